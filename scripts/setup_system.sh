#!/usr/bin/env bash
# Installs the Debian 12 packages the sandboxes need: X server, window manager, D-Bus/AT-SPI,
# bubblewrap, the target applications and the build headers for PyGObject. Idempotent: it
# only calls apt when a package is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # display, window manager, input/inspection helpers
  xvfb xauth openbox xfonts-base x11-utils xdotool wmctrl x11vnc
  # session bus and accessibility
  dbus dbus-x11 at-spi2-core libatk-adaptor libgail-common gir1.2-atspi-2.0
  # isolation
  bubblewrap iproute2 procps psmisc
  # target applications
  xterm mousepad galculator gnumeric pcmanfm
  libreoffice-calc libreoffice-gtk3 chromium
  # fonts so that accents and CJK render
  fonts-dejavu-core fonts-wqy-zenhei
  # the guest runtime: Debian's Python with PyGObject (AT-SPI)
  python3 python3-venv python3-gi
  # OCR (sandbox/ocr.py, the `ocr` extra): the opencv-python wheel links libGL and GLib
  libgl1 libglib2.0-0
)
# Task synthesis (cua/synth): Debian's word list (/usr/share/dict/american-english) for typed
# text and file names, and Geany, the application no built-in task was written for
# (sandbox/profiles/geany.toml). Installed like the rest: only when missing.
PACKAGES+=(wamerican geany)

# The desktop app (ui/, `cua app`; issue 15): the X libraries Qt's xcb platform plugin (PySide6,
# the `app` extra) loads at start. Installed like the rest: only when missing.
PACKAGES+=(
  libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0 libegl1
  libfontconfig1 libdbus-1-3
)

# The QEMU backend (sandbox/qemu.py): QEMU itself, qemu-img for the overlays, and what
# scripts/vm/build_image.sh builds the VM image with (mmdebstrap, mke2fs).
PACKAGES+=(qemu-system-x86 qemu-utils mmdebstrap e2fsprogs)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup_system: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup_system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
