#!/usr/bin/env bash
# Builds the disk image that QemuSandbox boots (sandbox/qemu.py), in one command:
#
#   bash scripts/vm/build_image.sh          # the small test image: xterm and galculator
#   bash scripts/vm/build_image.sh --full   # every profile's application (a slow build)
#
# From Debian 12's packages (mmdebstrap, no systemd): a kernel with an initrd, Xvfb, openbox,
# D-Bus and AT-SPI, bubblewrap, Debian's Python with PyGObject, the guest runtime from PyPI in
# /opt/cua-guest (scripts/guest-requirements.txt, as on the host) and the applications. Its PID 1 is
# scripts/vm/init.sh. The guest agent's code is not in the image: QemuSandbox hands it to each VM
# on a read-only disk, so editing sandbox/guest/ needs no rebuild.
#
# Output, cached under ${CUA_CACHE_DIR:-~/.cache/cua}/vm/<flavor>-<key>/ with <key> a hash of
# this script, init.sh and scripts/guest-requirements.txt (so the image is rebuilt only when its
# recipe changes):
# rootfs.qcow2, vmlinuz, initrd.img and image.json (build time, sizes), which is printed; the
# link vm/<flavor> names the current build, and older builds of the flavor are removed.
# Needs root and the host packages mmdebstrap, qemu-utils and e2fsprogs (scripts/setup_system.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

FLAVOR=test
case "${1:-}" in
  "") ;;
  --full) FLAVOR=full ;;
  *) echo "usage: $0 [--full]" >&2; exit 2 ;;
esac

SUITE=bookworm
MIRROR="${CUA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
GUEST_REQS="$(grep -v '^#' scripts/guest-requirements.txt | xargs)"
PACKAGES=(
  # boot: kernel, initrd (virtio disk and ext4 come from it), modprobe, mount, ip
  linux-image-amd64 initramfs-tools kmod mount iproute2
  # display and window manager
  xvfb openbox xfonts-base fonts-dejavu-core
  # session bus and accessibility
  dbus-daemon dbus-bin dbus-session-bus-common at-spi2-core libatk-adaptor gir1.2-atspi-2.0
  # the guest runtime and its isolation
  python3 python3-venv python3-gi bubblewrap
  # the test image's applications
  xterm galculator
)
if [ "$FLAVOR" = full ]; then
  # Every other profile's application (sandbox/profiles/*.toml), as scripts/setup_system.sh
  # installs them on the host.
  PACKAGES+=(mousepad gnumeric pcmanfm libgail-common libreoffice-calc libreoffice-gtk3 chromium geany
    fonts-wqy-zenhei wamerican)
fi
# Kernel modules the VM loads after the initrd (virtio-serial is the guest's transport); every
# other module is removed from the image, and the initrd is rebuilt from what is left.
MODULES="virtio_pci virtio_blk virtio_console virtio_net virtio_rng ext4"

for tool in mmdebstrap qemu-img mke2fs; do
  command -v "$tool" > /dev/null || { echo "build_image: $tool missing; run scripts/setup_system.sh" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "build_image: needs root (mmdebstrap, file ownership)" >&2; exit 1; }

KEY="$(cat scripts/vm/build_image.sh scripts/vm/init.sh scripts/guest-requirements.txt | sha256sum | cut -c1-12)"
CACHE="${CUA_CACHE_DIR:-$HOME/.cache/cua}/vm"
OUT="$CACHE/$FLAVOR-$KEY"
mkdir -p "$CACHE"
# One build at a time per flavor (parallel test workers may all ask for the image).
exec 9> "$CACHE/.build-$FLAVOR.lock"
flock 9
if [ -f "$OUT/image.json" ]; then
  ln -sfn "$FLAVOR-$KEY" "$CACHE/$FLAVOR"
  echo "build_image: cached $OUT"
  cat "$OUT/image.json"
  exit 0
fi

start=$(date +%s.%N)
work="$(mktemp -d "$CACHE/.build-$FLAVOR-XXXXXX")"
cleanup() {
  # An interrupted mmdebstrap may leave /proc, /sys and /dev mounted in the tree: never delete
  # through them.
  awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n 1 umount -l
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
root="$work/root"
echo "build_image: building the $FLAVOR image ($SUITE from $MIRROR) in $work"

# The guest runtime's wheels, fetched by the host's pip (its index and certificates configured
# there, not in the new tree), built where PyPI has only a source archive (python3-xlib).
python3 -m venv "$work/pip"
"$work/pip/bin/pip" --disable-pip-version-check wheel -q -w "$work/wheels" $GUEST_REQS

# What mmdebstrap runs in the finished tree ($1): the user, PID 1, the guest runtime, pruning.
cat > "$work/customize.sh" <<HOOK
#!/bin/sh
set -eu
echo "user:x:1000:1000:user:/home/user:/bin/bash" >> "\$1/etc/passwd"
echo "user:x:1000:" >> "\$1/etc/group"
mkdir -p "\$1/home/user"
chown 1000:1000 "\$1/home/user"
chmod 700 "\$1/home/user"
echo sandbox > "\$1/etc/hostname"
install -m 755 "$PWD/scripts/vm/init.sh" "\$1/sbin/cua-init"
cp -r "$work/wheels" "\$1/tmp/wheels"
chroot "\$1" python3 -m venv --system-site-packages /opt/cua-guest
pip="/opt/cua-guest/bin/pip --disable-pip-version-check install -q --no-index --find-links /tmp/wheels"
chroot "\$1" \$pip $GUEST_REQS
rm -rf "\$1/tmp/wheels"
chmod -R a+rX "\$1/opt/cua-guest"
kver=\$(ls "\$1/lib/modules")
chroot "\$1" modprobe -a -S "\$kver" --show-depends $MODULES | awk '\$1 == "insmod" {print \$2}' > "\$1/tmp/keep"
find "\$1/lib/modules/\$kver/kernel" -name '*.ko*' | sed "s|^\$1||" | grep -vxF -f "\$1/tmp/keep" \\
  | sed "s|^|\$1|" | xargs rm -f
rm -f "\$1/tmp/keep"
chroot "\$1" depmod "\$kver"
chroot "\$1" update-initramfs -u -k "\$kver"
rm -rf "\$1/var/cache/apt/"* "\$1/var/lib/apt/lists/"* "\$1/var/log/"*
HOOK
chmod +x "$work/customize.sh"

# Mesa's DRI drivers (and LLVM, which only they load) are left out: Xvfb runs without GLX and no
# profile renders with OpenGL, so nothing loads them; they were a quarter of the image.
mmdebstrap --variant=essential --mode=root \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/dri/*' \
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM-*' \
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libz3.so*' \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  --customize-hook="$work/customize.sh" \
  "$SUITE" "$root" "$MIRROR"

mkdir -p "$work/out"
cp "$root"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/out/initrd.img"
used_kb=$(du -sk "$root" | cut -f1)
size_mb=$(( used_kb * 13 / 10 / 1024 + 256 ))  # 30 % for the file system, 256 MB free
mke2fs -q -t ext4 -L cua-root -m 0 -d "$root" "$work/rootfs.raw" "${size_mb}M"
qemu-img convert -f raw -O qcow2 "$work/rootfs.raw" "$work/out/rootfs.qcow2"
python3 - "$work/out" "$FLAVOR" "$KEY" "$start" "$used_kb" "$size_mb" <<'PY'
import json, os, sys, time
out, flavor, key, start, used_kb, size_mb = sys.argv[1:]
build_s = time.time() - float(start)
info = {
    "flavor": flavor,
    "key": key,
    "build_s": round(build_s, 1),
    "rootfs_used_mb": round(int(used_kb) / 1024, 1),
    "disk_virtual_mb": int(size_mb),
    "qcow2_mb": round(os.path.getsize(f"{out}/rootfs.qcow2") / 2**20, 1),
    "kernel_mb": round(os.path.getsize(f"{out}/vmlinuz") / 2**20, 1),
    "initrd_mb": round(os.path.getsize(f"{out}/initrd.img") / 2**20, 1),
}
with open(f"{out}/image.json", "w") as f:
    json.dump(info, f)
    f.write("\n")
PY
chmod -R a+rX "$work/out"
rm -rf "$OUT"
mv "$work/out" "$OUT"
ln -sfn "$FLAVOR-$KEY" "$CACHE/$FLAVOR"
for old in "$CACHE/$FLAVOR"-*; do
  [ "$old" = "$OUT" ] || rm -rf "$old"
done
echo "build_image: built $OUT"
cat "$OUT/image.json"
