"""HostScreen acts on an existing display only with consent, and never kills the user's processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from sandbox import TypeText, errors
from sandbox.host import HostScreen

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]


@pytest.fixture
def user_display() -> Iterator[str]:
    """A display standing in for the person's real screen (started the way a desktop would)."""
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    number = proc.stdout.readline().decode().strip()
    assert number.isdigit()
    wm = subprocess.Popen(["openbox", "--sm-disable"], env=dict(os.environ, DISPLAY=f":{number}"))
    yield f":{number}"
    for p in (wm, proc):
        p.kill()
        p.wait()


def test_consent_is_required() -> None:
    with pytest.raises(errors.SandboxError, match="explicit consent"):
        HostScreen(":0")


def test_acts_on_the_display_without_sandbox_powers(user_display: str) -> None:
    with HostScreen(user_display, consent=True) as screen:
        assert screen.screen_size == (1024, 768)
        obs = screen.reset("xterm")
        assert obs.app_running and obs.window_title
        typed = screen.step(TypeText("echo host screen\n"))
        assert typed.changed
        assert screen.exec(["echo", "real"]).stdout == b"real\n"
        with pytest.raises(errors.SandboxError, match="setup steps are refused"):
            from sandbox import WriteFile

            screen.reset("xterm", setup=[WriteFile("x", b"")])
        with pytest.raises(errors.GuestError, match="not in a sandbox"):
            screen._request("kill_others")
        me = os.getpid()
        assert os.path.exists(f"/proc/{me}")  # still alive: nothing was killed
