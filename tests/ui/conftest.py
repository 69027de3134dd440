"""Fixtures of the app's tests: an Xvfb display for Qt, a QApplication on it, the main window.

Qt draws on an X server of its own (started here, stopped after the session), never on the
developer's screen; the sandboxes behind the app are real XvfbSandboxes started by the service.
Settings go to a temporary folder (CUA_CONFIG_DIR), runs to a temporary data directory.
Set CUA_UI_SCREENSHOTS=DIR to keep the screenshots the tests take (docs/screenshots is made so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import x11_available


def _free_display() -> int:
    for n in range(140, 400):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number between 140 and 400")


@pytest.fixture(scope="session")
def qt_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start an Xvfb for Qt's windows; set DISPLAY, QT_QPA_PLATFORM and CUA_CONFIG_DIR; stop it after."""
    if not x11_available() or shutil.which("Xvfb") is None:
        pytest.skip("Xvfb missing: run scripts/setup_system.sh")
    for _attempt in range(5):
        n = _free_display()
        proc = subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", "1400x900x24", "-nolisten", "tcp", "-noreset"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                break
            time.sleep(0.05)
        if proc.poll() is None:
            break
    else:
        pytest.fail("could not start Xvfb for Qt")
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "QT_QPA_PLATFORM", "CUA_CONFIG_DIR")}
    os.environ["DISPLAY"] = f":{n}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ["CUA_CONFIG_DIR"] = str(tmp_path_factory.mktemp("config"))
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def qapp(qt_display: str) -> Iterator[object]:
    """The QApplication of the session, on the tests' own display (overrides pytest-qt's)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["cua-tests"])
    yield app


@pytest.fixture
def shots_dir(tmp_path: Path) -> Path:
    """Where the tests save screenshots of the window (CUA_UI_SCREENSHOTS, else a temporary folder)."""
    target = os.environ.get("CUA_UI_SCREENSHOTS")
    path = Path(target) if target else tmp_path / "shots"
    path.mkdir(parents=True, exist_ok=True)
    return path
