"""Starting the app: ``python -m ui [--data-dir DIR]`` (``cua app`` runs this as a process).

Imports only Qt and the light parts of the core before the window shows: torch and the model
backends load when a run needs them, on a worker thread.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QApplication

from cua.service import Service
from ui.main_window import MainWindow
from ui.settings import open_settings


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the app's command line."""
    parser = argparse.ArgumentParser(prog="cua app", description="The cua desktop app.")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data location: runs and memory (default: $CUA_DATA_DIR or the platform data dir)",
    )
    parser.add_argument(
        "--tab", choices=("run", "explore", "review", "models"), default="run", help="the pane shown first"
    )
    return parser.parse_args(list(argv))


def create_window(data_dir: Path | None = None) -> MainWindow:
    """Build the main window over ``data_dir`` (a QApplication must exist)."""
    return MainWindow(Service(data_dir), open_settings())


def main(argv: Sequence[str] | None = None) -> int:
    """Show the main window and run the event loop; return the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("cua")
    window = create_window(args.data_dir)
    if args.tab == "review":
        window.show_review()
    elif args.tab != "run":
        pane = window.explore_pane if args.tab == "explore" else window.models_pane
        window.tabs.setCurrentWidget(pane)
    window.show()
    return int(app.exec())


__all__ = ["create_window", "main", "parse_args"]
