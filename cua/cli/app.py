"""``cua app``: start the desktop app (``python -m ui``) as a process of its own.

The core never imports the app (ui -> cua -> sandbox); this command only replaces the current
process with the app's interpreter, so the app gets a clean start and its own exit status.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import typer

from cua.cli.options import DataDir
from cua.errors import UsageError


def app_command(data_dir: DataDir = None) -> None:
    """Open the desktop app: run tasks live, take over, review and judge what was recorded."""
    if importlib.util.find_spec("PySide6") is None:
        raise UsageError('the desktop app needs PySide6: pip install -e ".[app]" (scripts/setup_python.sh)')
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UsageError("no display: set DISPLAY (or WAYLAND_DISPLAY) to open the app's window")
    argv = [sys.executable, "-m", "ui"]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, argv)
    except OSError as exc:
        typer.echo(f"cua: error: cannot start {' '.join(argv)}: {exc}", err=True)
        raise typer.Exit(2) from None
