"""Settling by the sandbox's activity and the X server's DAMAGE events, and the fallbacks.

A step ends once the sandbox is calm (nothing drawn, no thread of its own running, no timer
about to fire), or else when the X server reports no more drawing for the profile's windows (or,
where DAMAGE is missing or ``CUA_SETTLE=poll`` is set on the host, when screenshots stop
changing). The drawn areas come back as ``Observation.damage``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

import sandbox.guest
from sandbox import Click, Key, TypeText, XvfbSandbox, channel
from sandbox.errors import GuestError, ProfileError
from sandbox.profile import SettleWindows, find_profile, parse_profile

pytestmark = [pytest.mark.x11, pytest.mark.timeout(180)]


def button(sb: XvfbSandbox, name: str) -> tuple[int, int, int, int]:
    nodes = sb.observe(a11y=True).a11y or ()
    for node in nodes:
        if node.role == "toggle button" and node.name.strip() == name:
            return node.bbox
    raise AssertionError(f"no galculator button {name!r} in the a11y tree")


def fresh_frame(sb: XvfbSandbox) -> Image.Image:
    """A frame captured anew by the guest (not "unchanged since the last one" by damage)."""
    sb._last_image = None  # the next observe asks for the whole frame
    return sb.observe().screenshot


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_damage_reported_for_a_button_click_and_empty_for_a_click_on_nothing(sb: XvfbSandbox) -> None:
    sb.reset("galculator")
    seven = button(sb, "7")
    x, y, w, h = seven
    obs = sb.step(Click(x + w // 2, y + h // 2))
    assert sb.settle_mode == "damage"
    assert obs.changed
    assert obs.damage, "a click on a calculator button draws something"
    assert any(overlaps(r, seven) for r in obs.damage), (obs.damage, seven)
    width, height = sb.screen_size
    assert all(
        rx >= 0 and ry >= 0 and rx + rw <= width and ry + rh <= height for rx, ry, rw, rh in obs.damage
    )
    assert len(obs.damage) <= 32

    sb.step(Click(5, height - 5))  # the bare desktop: the window loses focus and redraws once
    before = sb.observe()
    quiet = sb.step(Click(5, height - 5))
    assert not quiet.changed
    assert quiet.damage == ()
    assert quiet.screenshot.tobytes() == before.screenshot.tobytes()


def test_settled_frame_after_typing_equals_a_frame_taken_later(sb: XvfbSandbox) -> None:
    sb.reset("mousepad")
    for text in ("hello settle", " and more text", "\nline two"):
        settled = sb.step(TypeText(text))
        assert settled.changed and settled.damage
        time.sleep(1.0)
        later = fresh_frame(sb)
        assert settled.screenshot.tobytes() == later.tobytes(), f"settled too early after {text!r}"


def test_polling_fallback_when_damage_is_turned_off(sb: XvfbSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sb.reset("galculator")
    x, y, w, h = button(sb, "8")
    monkeypatch.setenv("CUA_SETTLE", "poll")
    obs = sb.step(Click(x + w // 2, y + h // 2))
    assert sb.settle_mode == "poll"
    assert obs.changed
    assert obs.damage == ()  # polling knows no areas
    time.sleep(1.0)
    # Above the button: its tooltip shows below it once the pointer has rested 500 ms.
    above = (0, 0, sb.screen_size[0], y)
    assert obs.screenshot.crop(above).tobytes() == fresh_frame(sb).crop(above).tobytes()
    height = sb.screen_size[1]
    sb.step(Click(5, height - 5))
    quiet = sb.step(Click(5, height - 5))
    assert sb.settle_mode == "poll"
    assert not quiet.changed
    monkeypatch.delenv("CUA_SETTLE")
    assert sb.step(Click(5, height - 5)).changed is False
    assert sb.settle_mode == "damage"


def test_profiles_carry_settle_windows() -> None:
    assert find_profile("gnumeric").settle.quiet_ms > SettleWindows().quiet_ms
    assert find_profile("mousepad").settle == SettleWindows()
    assert find_profile("xterm").settle.idle_ms < SettleWindows().idle_ms
    prof = parse_profile(
        {
            "name": "x",
            "command": ["true"],
            "ready": {"title": "x"},
            "settle": {"quiet_ms": 120, "idle_ms": 40, "timer_ms": 500},
        }
    )
    assert prof.settle == SettleWindows(quiet_ms=120.0, idle_ms=40.0, timer_ms=500.0)
    with pytest.raises(ProfileError, match="settle"):
        parse_profile({"name": "x", "command": ["true"], "ready": {"title": "x"}, "settle": {"quiet": 1}})
    with pytest.raises(ProfileError, match=r"settle\.idle_ms"):
        parse_profile(
            {"name": "x", "command": ["true"], "ready": {"title": "x"}, "settle": {"idle_ms": "fast"}}
        )


def test_a_click_on_nothing_settles_by_calm_and_matches_a_later_frame(sb: XvfbSandbox) -> None:
    sb.reset("mousepad")
    height = sb.screen_size[1]
    sb.step(Click(5, height - 5))  # the window loses focus and redraws
    for _ in range(5):
        obs = sb.step(Click(5, height - 5))
        assert sb.settled_by == "calm", sb.settled_by
        assert not obs.changed
    time.sleep(1.0)
    assert obs.screenshot.tobytes() == fresh_frame(sb).tobytes()


def test_a_release_timer_is_waited_for_while_it_draws(agent: ModuleType) -> None:
    """galculator arms a 100 ms timer with every button press, which draws the button released.

    After a key press the button shows pressed until then: calm waits for it, every time. After
    a click the button is released already and the timer draws nothing: once three waits have
    shown that, clicks settle without it (every eighth skip waits anyway, to check), and every
    settled frame is still the screen a second later.
    """
    with XvfbSandbox() as sb:  # its own guest: what another test taught it must not count
        sb.reset("galculator")
        x, y, w, h = button(sb, "4")
        above = (0, 0, sb.screen_size[0], y)  # its tooltip shows below it after 500 ms
        learn = agent.TIMER_LEARN
        took, skipped, rules = [], [], []
        for _ in range(learn + 4):
            t0 = time.monotonic()
            obs = sb.step(Click(x + w // 2, y + h // 2))
            took.append(time.monotonic() - t0)
            skipped.append(sb.timer_skipped)
            rules.append(sb.settled_by)
            assert obs.changed
            time.sleep(0.3)
            assert obs.screenshot.crop(above).tobytes() == fresh_frame(sb).crop(above).tobytes()
        # (On a loaded machine a wait may end by its quiet window before the timer fires: it
        # then teaches nothing, and learning takes a step more.)
        assert not any(skipped[:learn]) and sum(skipped[learn:]) >= 3, (skipped, rules)
        waited = [t for t, s, r in zip(took, skipped, rules, strict=True) if not s and r == "calm"]
        assert waited and min(waited) >= 0.09, (took, rules)  # the release timer was waited for
        assert max(t for t, s in zip(took, skipped, strict=True) if s) < 0.09, took
        for _ in range(learn + 2):
            t0 = time.monotonic()
            obs = sb.step(TypeText("4"))
            assert time.monotonic() - t0 >= 0.09 and not sb.timer_skipped
            time.sleep(0.3)
            assert obs.screenshot.crop(above).tobytes() == fresh_frame(sb).crop(above).tobytes()


@pytest.fixture
def bare_display() -> Iterator[str]:
    """An Xvfb display of its own, with nothing on it."""
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "640x480x24", "-nolisten", "tcp", "-extension", "GLX"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    number = proc.stdout.readline().decode().strip()
    assert number.isdigit()
    yield f":{number}"
    proc.kill()
    proc.wait()


def test_what_is_drawn_after_a_skipped_timer_tells_the_log(agent: ModuleType, bare_display: str) -> None:
    """After a settle that skipped a due timer, the next request looks at what was drawn since.

    The same pixels drawn again (galculator's release timer after a click) keep the skipping;
    different pixels end it: that timer, or something else, drew after the frame was taken.
    """
    desktop = agent.Desktop(bare_display)
    log, key = agent.TimerLog(), ("app", "click")
    for _ in range(agent.TIMER_LEARN):
        log.record(key, False)
    desktop.bands = desktop.full_capture().crcs  # the frame the host holds
    gc = desktop.root.create_gc(foreground=desktop.dpy.screen().black_pixel)
    told: list[bool] = []
    record = log.record

    def telling(k: tuple[str, str], drew: bool) -> None:
        told.append(drew)
        record(k, drew)

    log.record = telling

    desktop.skipped = (log, key)
    desktop.root.clear_area(10, 10, 100, 50)  # the background again: damage, same pixels
    desktop.dpy.sync()
    desktop.drain_damage()
    assert desktop.skipped is None and told == [False] and log.skip(key)

    desktop.skipped = (log, key)
    desktop.root.fill_rectangle(gc, 20, 20, 30, 30)
    desktop.dpy.sync()
    desktop.drain_damage()
    assert told == [False, True] and not log.skip(key)


def test_the_timer_log_learns_per_application_and_action_and_keeps_checking(agent: ModuleType) -> None:
    log = agent.TimerLog()
    every = agent.TIMER_PROBE_EVERY
    click, key = ("galculator", "click"), ("galculator", "key")
    for _ in range(agent.TIMER_LEARN):
        assert not log.skip(click)
        log.record(click, False)
        log.record(key, True)
    assert not log.skip(key) and not log.skip(("mousepad", "click"))
    decisions = [log.skip(click) for _ in range(2 * every)]
    assert decisions.count(False) == 2 and decisions[every - 1] is False
    log.record(click, True)  # a check saw the timer draw: waiting resumes
    assert not any(log.skip(click) for _ in range(every))


def test_frames_patched_where_the_server_drew_match_full_grabs(
    sb: XvfbSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A settled frame is the last one with fresh pixels where damage says something was drawn.

    With ``CUA_CAPTURE=check`` the guest also grabs the whole screen after each step and counts
    a patched or reused frame that differs from it (with no later drawing to explain it).
    Menus, dialogs, typing, button clicks and clicks on nothing, in two applications.
    """
    monkeypatch.setenv("CUA_CAPTURE", "check")
    height = sb.screen_size[1]
    seen: Counter[str] = Counter()
    sb.reset("galculator")
    for name in ("7", "+", "3", "=", "C"):
        x, y, w, h = button(sb, name)
        sb.step(Click(x + w // 2, y + h // 2))
        seen[sb.captured or ""] += 1
        assert sb.capture_differs == 0, f"the frame after clicking {name!r} was patched wrong"
    sb.reset("mousepad")
    script: list[Any] = [
        TypeText("patched frames"),
        Key(("enter",)),
        TypeText("second line"),
        Key(("ctrl", "f")),  # a search bar opens
        Key(("escape",)),
        Key(("ctrl", "o")),  # a dialog
        Key(("escape",)),
        Click(5, height - 5),
        Click(5, height - 5),  # nothing drawn: the last frame is the screen
        Key(("ctrl", "a")),
        Key(("backspace",)),
    ]
    for action in script:
        sb.step(action)
        seen[sb.captured or ""] += 1
        assert sb.capture_differs == 0, f"the frame after {action} was patched wrong"
    assert seen["patched"] >= 5 and seen["reused"] >= 1, seen

    monkeypatch.setenv("CUA_CAPTURE", "full")
    sb.step(Click(5, height - 5))
    assert sb.captured == "full"
    monkeypatch.setenv("CUA_SETTLE", "poll")
    sb.step(Click(5, height - 5))
    assert sb.captured == "poll"


def test_a_patch_is_pasted_into_the_frame_held_and_refused_without_one() -> None:
    """The guest sends the bands of rows drawn since the host's frame; the host pastes them."""
    previous = Image.new("RGB", (8, 6), (10, 20, 30))
    rows = bytes([200, 100, 50, 0]) * 8 * 2  # two rows of BGRX: blue 200, green 100, red 50
    meta = {"size": [8, 6], "cursor": [0, 0], "patch": [[3, 2]], "seq": 7}
    image = channel.observation(meta, rows, previous, {}).screenshot
    assert image.getpixel((0, 2)) == (10, 20, 30) and image.getpixel((7, 5)) == (10, 20, 30)
    assert image.getpixel((0, 3)) == (50, 100, 200) and image.getpixel((7, 4)) == (50, 100, 200)
    assert previous.getpixel((0, 3)) == (10, 20, 30)  # the frame held is left as it was
    assert channel.frame_args(previous, 7) == {"base": 7} and channel.frame_args(None, 7) == {"base": None}
    with pytest.raises(GuestError, match="patch for a frame"):
        channel.observation(meta, rows, None, {})


def test_damage_mode_keeps_the_windows(sb: XvfbSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sb.reset("galculator")
    height = sb.screen_size[1]
    monkeypatch.setenv("CUA_SETTLE", "damage")
    sb.step(Click(5, height - 5))
    t0 = time.monotonic()
    sb.step(Click(5, height - 5))
    assert sb.settle_mode == "damage" and sb.settled_by == "idle"
    assert time.monotonic() - t0 >= SettleWindows().idle_ms / 1000
    x, y, w, h = button(sb, "5")
    sb.step(Click(x + w // 2, y + h // 2))
    assert sb.settled_by == "quiet"


@pytest.fixture(scope="module")
def agent() -> ModuleType:
    """The guest agent module, imported as the sandbox runs it (its folder on the path)."""
    folder = str(Path(sandbox.guest.__file__).parent)
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location("cua_guest_agent", Path(folder) / "agent.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[str]]:
    """A Python process that blocks in whatever code it reads from stdin (one line)."""
    code = "import sys; exec(sys.stdin.readline())"
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)
    yield proc
    proc.kill()
    proc.wait()


def blocked_line(pid: int, nr: int) -> bytes:
    """Wait until the process's main thread blocks in system call ``nr``; return its line."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        line = Path(f"/proc/{pid}/syscall").read_bytes()
        if line.split()[0] == str(nr).encode():
            return line
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never blocked in system call {nr}: {line!r}")


@pytest.mark.parametrize(
    ("code", "nr_name", "timeout_s"),
    [
        ("import select; select.select([], [], [], 3.0)", "SYS_PSELECT6", 3.0),  # glibc's select
        ("import select; select.poll().poll(2500)", "SYS_POLL", 2.5),
        ("import select; e = select.epoll(); e.poll(1.5)", "SYS_EPOLL_WAIT", 1.5),
        ("import threading; threading.Event().wait(4.0)", "SYS_FUTEX", 4.0),
        ("import time; time.sleep(3.5)", "SYS_CLOCK_NANOSLEEP", 3.5),
        ("import os; os.read(0, 1)", "", None),
        ("import select; select.poll().poll()", "SYS_POLL", None),
    ],
)
def test_wakes_at_decodes_each_timed_wait(
    agent: ModuleType, sleeper: subprocess.Popen[str], code: str, nr_name: str, timeout_s: float | None
) -> None:
    assert sleeper.stdin is not None
    started = agent.now()
    sleeper.stdin.write(code + "\n")
    sleeper.stdin.flush()
    nr = getattr(agent, nr_name) if nr_name else 0  # read(2) is system call 0
    line = blocked_line(sleeper.pid, nr)
    seen = agent.now()
    watcher = agent.Activity(set())
    watcher._pid_of = {sleeper.pid: sleeper.pid}
    try:
        wake = watcher._wakes_at(sleeper.pid, line, seen)
    finally:
        watcher.close()
    if timeout_s is None:
        assert wake == agent.FOREVER
    else:
        # Relative waits count from when they were seen; absolute ones are exact.
        assert started + timeout_s - 0.05 <= wake <= seen + timeout_s + 0.05, (wake - started, line)


def watch_one(agent: ModuleType, pid: int) -> Any:
    """An Activity that watches the threads of one process (a test owns no PID namespace)."""

    class OneProcess(agent.Activity):  # type: ignore[name-defined,misc]
        def threads(self) -> dict[int, int]:
            return {int(p.name): pid for p in Path(f"/proc/{pid}/task").iterdir()}

    return OneProcess(set())


def test_activity_sees_a_thread_run_and_its_timer(agent: ModuleType, sleeper: subprocess.Popen[str]) -> None:
    assert sleeper.stdin is not None
    # A main thread that waits forever, and a worker that wakes every 200 ms to do a little.
    sleeper.stdin.write(
        "import threading, time, os; threading.Thread(target=lambda: [time.sleep(0.2) or sum(range(1000))"
        " for _ in iter(int, 1)], daemon=True).start(); os.read(0, 1)\n"
    )
    sleeper.stdin.flush()
    time.sleep(0.3)
    watcher = watch_one(agent, sleeper.pid)
    try:
        watcher.refresh()
        assert len(watcher._fds) == 2
        watcher.ran()
        runs = 0
        soonest = []
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            runs += watcher.ran()
            t = agent.now()
            soonest.append(watcher.next_wake(t) - t)
            time.sleep(0.01)
        assert 3 <= runs <= 8, runs  # five wakes in a second, each seen once
        assert all(s <= 0.21 for s in soonest), max(soonest)  # the worker's timer is never far
        assert min(soonest) <= 0.05
    finally:
        watcher.close()


def test_activity_gives_up_beyond_its_thread_limit(
    agent: ModuleType, sleeper: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox that spawns threads without end must not exhaust the guest's descriptors."""
    assert sleeper.stdin is not None
    sleeper.stdin.write(
        "import threading, os; [threading.Thread(target=os.read, args=(0, 1), daemon=True).start()"
        " for _ in range(40)]; os.read(0, 1)\n"
    )
    sleeper.stdin.flush()
    deadline = time.monotonic() + 5
    while len(list(Path(f"/proc/{sleeper.pid}/task").iterdir())) < 41 and time.monotonic() < deadline:
        time.sleep(0.01)
    monkeypatch.setattr(agent, "MAX_WATCHED_THREADS", 30)
    watcher = watch_one(agent, sleeper.pid)
    try:
        assert watcher.refresh() and watcher.overflow
        assert not watcher._fds  # no descriptor held
        assert watcher.ran() and watcher.runnable()  # never calm: the windows decide
    finally:
        watcher.close()
    monkeypatch.setattr(agent, "MAX_WATCHED_THREADS", 100)
    watcher = watch_one(agent, sleeper.pid)
    try:
        watcher.refresh()
        assert not watcher.overflow and len(watcher._fds) == 41
    finally:
        watcher.close()
