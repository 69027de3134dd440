#!/bin/sh
# PID 1 of a QemuSandbox VM (installed as /sbin/cua-init by scripts/vm/build_image.sh; no systemd).
#
# Mounts the kernel file systems, starts Xvfb (display :0, no TCP, no abstract socket) and runs
# the guest agent (sandbox/guest/agent.py, unpacked from the read-only second disk the host
# attaches) as uid 1000 inside a bubblewrap container, exactly as XvfbSandbox does on the host:
# its own PID, IPC, user and (unless the kernel command line says cua.net=1) network namespace,
# a read-only root, private /tmp. The agent speaks to the host over the virtio-serial port named
# org.cua.guest. When the agent exits, the VM powers off, so the host sees QEMU exit.
# Kernel command line: cua.screen=WxH (default 1280x800), cua.net=1 (user-mode network).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8

mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mountpoint -q /run || mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -o remount,rw /
echo 1 > /proc/sys/kernel/sysrq
hostname sandbox
ip link set lo up 2>/dev/null

poweroff_now() {
  echo "cua-init: $*" > /dev/console
  sync
  echo o > /proc/sysrq-trigger
  sleep 60
}

screen=1280x800
net=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    cua.screen=*) screen="${arg#cua.screen=}" ;;
    cua.net=1) net=1 ;;
  esac
done

if [ "$net" = 1 ]; then
  modprobe virtio_net
  dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
  ip link set "$dev" up
  ip addr add 10.0.2.15/24 dev "$dev"
  ip route add default via 10.0.2.2
  echo "nameserver 10.0.2.3" > /etc/resolv.conf
fi

# The guest's code and configuration: a tar on the second disk, written by the host per sandbox.
mkdir -p /run/cua/guest
tar -xf /dev/vdb -C /run/cua/guest || poweroff_now "cannot unpack the guest from /dev/vdb"
chmod -R a+rX /run/cua/guest
# Chromium obeys exactly the profile's policies, as in XvfbSandbox: the host's file on the guest
# disk becomes the only one (the root is this sandbox's own overlay; the container cannot write it).
rm -rf /etc/chromium/policies
if [ -f /run/cua/guest/chromium-policies.json ]; then
  mkdir -p /etc/chromium/policies/managed
  cp /run/cua/guest/chromium-policies.json /etc/chromium/policies/managed/cua.json
  chmod -R a+rX /etc/chromium/policies
fi
: > /run/cua/xauth
chmod 644 /run/cua/xauth

modprobe virtio_console
port=""
for _ in $(seq 1 500); do
  for d in /sys/class/virtio-ports/*; do
    [ -r "$d/name" ] && [ "$(cat "$d/name")" = org.cua.guest ] && port="/dev/${d##*/}"
  done
  [ -n "$port" ] && [ -c "$port" ] && break
  sleep 0.01
done
[ -n "$port" ] || poweroff_now "no virtio-serial port org.cua.guest"
chown 1000:1000 "$port"
chmod 600 "$port"

# HOME on a file system of its own, as on the host: GLib finds a file's mount by walking up while
# the device stays the same, and would take the container's read-only root for HOME's (pcmanfm
# then offers no Rename, Cut or Delete). A reset refills it from the profile's template.
mount -t tmpfs -o mode=0700,uid=1000,gid=1000,nosuid,nodev,size=50% tmpfs /home/user

# Xvfb runs as root outside the container (only the container's user can reach its socket
# besides root); without -auth it accepts local clients, and only its unix socket exists.
MALLOC_MMAP_THRESHOLD_=131072 Xvfb :0 -screen 0 "${screen}x24" -nolisten tcp -nolisten local -noreset -extension GLX \
  > /run/xvfb.log 2>&1 &
for _ in $(seq 1 1000); do
  [ -S /tmp/.X11-unix/X0 ] && break
  sleep 0.01
done
[ -S /tmp/.X11-unix/X0 ] || poweroff_now "Xvfb did not start: $(tail -c 400 /run/xvfb.log)"

netopt=--unshare-net
[ "$net" = 1 ] && netopt=""
setpriv --reuid=1000 --regid=1000 --clear-groups \
  bwrap --die-with-parent --new-session \
    --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try --unshare-user $netopt \
    --uid 1000 --gid 1000 --hostname sandbox \
    --ro-bind / / --proc /proc --dev /dev --dev-bind "$port" /dev/cua-port \
    --tmpfs /tmp --tmpfs /run --bind /home/user /home/user \
    --ro-bind /run/cua/guest /run/cua/guest --ro-bind /run/cua/xauth /run/cua/xauth \
    --bind /tmp/.X11-unix/X0 /tmp/.X11-unix/X0 \
    --remount-ro /run --chdir /home/user --clearenv \
    --setenv HOME /home/user --setenv USER user --setenv LOGNAME user --setenv DISPLAY :0 \
    --setenv XAUTHORITY /run/cua/xauth --setenv XDG_RUNTIME_DIR /tmp/.cua-run \
    --setenv PATH /usr/local/bin:/usr/bin:/bin --setenv LANG C.UTF-8 --setenv SHELL /bin/bash \
    --setenv TERM xterm-256color --setenv MALLOC_MMAP_THRESHOLD_ 131072 \
    /opt/cua-guest/bin/python -s /run/cua/guest/agent.py --serial /dev/cua-port --sandboxed \
    --start-timeout 300
poweroff_now "the guest agent exited ($?)"
