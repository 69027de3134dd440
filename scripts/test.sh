#!/usr/bin/env bash
# The whole test suite: set up the machine (idempotent), then lint, type-check, check the
# import contracts, and run pytest (two workers, then the VM and Ray tests on one; extra
# arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh
bash scripts/setup_python.sh
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports
# Arguments with their own -m selection run as given, in one pass.
for arg in "$@"; do
  case "$arg" in -m|-m*) echo "== pytest"; exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@" ;; esac
done
# Two passes: everything else on two workers, then the QEMU VM and Ray tests on one. An emulated
# VM (TCG) or a Ray node takes a whole core, which would stretch the timing-sensitive tests
# (settling, double clicks) running beside them.
echo "== pytest"
rc=0
.venv/bin/python -m pytest -n 2 --dist loadfile -m "not vm and not ray" "$@" || rc=$?
echo "== pytest: VM and Ray sandboxes (one worker)"
rc2=0
.venv/bin/python -m pytest -m "vm or ray" "$@" || rc2=$?
[ "$rc2" -eq 5 ] && rc2=0  # the arguments selected none of them
[ "$rc" -ne 0 ] && exit "$rc"
exit "$rc2"
