"""Bad input and killed parts: each gives a typed error quickly, and nothing hangs."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from sandbox import Click, Key, Move, TypeText, XvfbSandbox, errors
from tests.sandbox.procs import find_pid

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]


@pytest.fixture
def sb(new_sandbox: Callable[..., XvfbSandbox]) -> XvfbSandbox:
    """A sandbox per test (each breaks its own), with a short request timeout so a hang fails fast."""
    return new_sandbox("xterm", request_timeout_s=3.0)


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (Click(1280, 10), errors.OffScreen, "outside the 1280x800 screen"),
        (Move(10, -3), errors.OffScreen, "outside"),
        (Key(("ctrl", "hyperdrive")), errors.UnknownKey, "unknown key name 'hyperdrive'"),
        (Key(("a", "ctrl")), errors.InvalidAction, "modifiers then one key"),
        (TypeText("rm -rf\x1b[A"), errors.BadText, r"U\+001B"),
        (TypeText("bell\x07"), errors.BadText, "only newline"),
    ],
)
def test_bad_actions_are_refused_and_sandbox_stays_usable(
    sb: XvfbSandbox, action: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        sb.step(action)  # type: ignore[arg-type]
    obs = sb.step(TypeText("echo still-alive\n"))
    assert obs.app_running
    sb.ping()


def test_newline_and_tab_type_return_and_tab(sb: XvfbSandbox) -> None:
    sb.step(TypeText("printf 'a\\tb' > t.txt\n"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sb.exec(["test", "-s", "t.txt"]).returncode:
        time.sleep(0.05)
    assert sb.read_file("t.txt") == b"a\tb"


def test_killing_xvfb_gives_display_died_and_reset_recovers(sb: XvfbSandbox) -> None:
    xvfb_pid = sb.host_pids()[0]
    os.kill(xvfb_pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(errors.DisplayDied):
        sb.step(Click(100, 100))
    with pytest.raises(errors.DisplayDied):
        sb.ping()
    assert time.monotonic() - t0 < 10
    obs = sb.reset("xterm")  # a reset brings up a new display and container
    assert obs.app_running and sb.host_pids()[0] != xvfb_pid


def test_killing_the_application_gives_app_crashed(sb: XvfbSandbox) -> None:
    os.kill(find_pid(sb.id, "xterm -fa"), signal.SIGKILL)
    with pytest.raises(errors.AppCrashed, match="killed by signal 9"):
        sb.step(Click(100, 100))
    with pytest.raises(errors.AppCrashed):
        sb.ping()
    assert sb.reset("xterm").app_running


def test_killing_the_guest_gives_guest_died(sb: XvfbSandbox) -> None:
    os.kill(find_pid(sb.id, "guest/run.py"), signal.SIGKILL)
    with pytest.raises(errors.GuestDied):
        sb.step(Click(100, 100))
    with pytest.raises(errors.SandboxCrashed):
        sb.observe()
    assert sb.reset("xterm").app_running


def test_a_hung_guest_gives_guest_hung_within_the_timeout(sb: XvfbSandbox) -> None:
    guest = find_pid(sb.id, "guest/run.py")
    os.kill(guest, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(errors.GuestHung):
            sb.ping(timeout_s=1.0)
        assert time.monotonic() - t0 < 3
        with pytest.raises(errors.GuestHung):
            sb.step(Click(100, 100))
    finally:
        os.kill(guest, signal.SIGCONT)
    t0 = time.monotonic()
    sb.close()
    assert time.monotonic() - t0 < 10


def test_an_app_that_never_shows_a_window_gives_app_not_ready(sb: XvfbSandbox) -> None:
    from sandbox.profile import parse_profile

    sleeper = parse_profile(
        {"name": "sleeper", "command": ["sleep", "30"], "ready": {"wm_class": "nothing", "timeout_s": 1.0}}
    )
    with pytest.raises(errors.AppNotReady, match="no window matching"):
        sb.reset(sleeper)
    assert sb.reset("xterm").app_running


def test_an_app_that_exits_at_start_gives_app_crashed(sb: XvfbSandbox) -> None:
    from sandbox.profile import parse_profile

    broken = parse_profile({"name": "broken", "command": ["false"], "ready": {"wm_class": "x"}})
    with pytest.raises(errors.AppCrashed, match="exited with status 1 before its window"):
        sb.reset(broken)


def test_missing_command_inside_sandbox_is_a_clear_error(sb: XvfbSandbox) -> None:
    result = sb.exec(["no-such-command-xyz"])
    assert result.returncode == 127
    assert b"no-such-command-xyz" in result.stderr
    with pytest.raises(errors.ExecTimeout, match="ran past"):
        sb.exec(["sleep", "5"], timeout_s=0.5)
    assert sb.exec(["true"]).ok


def test_use_before_reset_and_after_close() -> None:
    box = XvfbSandbox()
    with pytest.raises(errors.SandboxError, match="call reset"):
        box.observe()
    box.close()
    with pytest.raises(errors.SandboxClosed):
        box.reset("xterm")
