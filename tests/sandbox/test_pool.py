"""SandboxPool: leases, parallel map with retries, heartbeats, crash and hang recovery, clean close.

The first half drives the pool with an in-file stub sandbox whose ping or reset can block or
fail on demand (fast, deterministic, no X). The second half uses real XvfbSandboxes with xterm
and breaks them for real: kills the X server or the application, freezes the guest.
"""

from __future__ import annotations

import functools
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from PIL import Image

from sandbox import (
    AppProfile,
    ExecResult,
    Job,
    Observation,
    PoolEvent,
    Sandbox,
    SandboxAction,
    SandboxPool,
    XvfbSandbox,
    errors,
    find_profile,
)
from sandbox.profile import SetupStep
from tests.sandbox.procs import find_pid, sandbox_processes

# --------------------------------------------------------------------------------------------
# A stub backend whose failures the test controls.


class Stub(Sandbox):
    """A sandbox in memory; set ``dead``, ``hang_ping``, ``hang_reset`` or ``app_exited`` to break it."""

    def __init__(self, name: str) -> None:
        self.id = name
        self._closed = False
        self._profile: AppProfile | None = None
        self.files: dict[str, bytes] = {}
        self.resets = 0
        self.dead: errors.SandboxError | None = None
        self.app_exited = False
        self.hang_ping = threading.Event()  # set: ping blocks until ``release`` is set
        self.hang_reset = threading.Event()
        self.release = threading.Event()

    @property
    def screen_size(self) -> tuple[int, int]:
        return (64, 48)

    @property
    def profile(self) -> AppProfile | None:
        return self._profile

    @property
    def closed(self) -> bool:
        return self._closed

    def _check(self) -> None:
        if self._closed:
            raise errors.SandboxClosed(f"{self.id} is closed")
        if self.dead is not None:
            raise self.dead

    def reset(
        self, profile: AppProfile | str, setup: Sequence[SetupStep] = (), app_args: Sequence[str] = ()
    ) -> Observation:
        if self.hang_reset.is_set():
            self.release.wait(30)
        self._check()
        self._profile = find_profile(profile)
        self.files.clear()
        self.app_exited = False
        self.resets += 1
        return self.observe()

    def step(self, action: SandboxAction, *, settle_s: float = 1.0) -> Observation:
        return self.observe()

    def observe(self, *, a11y: bool = False) -> Observation:
        self._check()
        return Observation(Image.new("RGB", self.screen_size), (0, 0), self.id, not self.app_exited)

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        self._check()
        return ExecResult(0, b"", b"")

    def read_file(self, path: str) -> bytes:
        self._check()
        return self.files[path]

    def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        self._check()
        self.files[path] = content

    def ping(self, timeout_s: float = 2.0) -> None:
        if self.hang_ping.is_set():
            self.release.wait(30)  # a frozen guest that ignores the timeout it was given
        self._check()
        if self.app_exited:
            raise errors.AppCrashed(f"the app of {self.id} exited", 0)

    def close(self) -> None:
        self._closed = True


class StubFactory:
    """Make numbered stubs and remember them."""

    def __init__(self) -> None:
        self.made: list[Stub] = []

    def __call__(self) -> Stub:
        sb = Stub(f"stub{len(self.made)}")
        self.made.append(sb)
        return sb


def kinds(events: list[PoolEvent], slot: int | None = None) -> list[str]:
    return [e.kind for e in events if slot is None or e.slot == slot]


@pytest.fixture
def factory() -> Iterator[StubFactory]:
    f = StubFactory()
    yield f
    for sb in f.made:
        sb.release.set()  # let blocked helper threads finish


def stub_pool(factory: StubFactory, size: int = 2, **kwargs: object) -> SandboxPool:
    clock = itertools.count(1)
    options: dict[str, object] = {
        "heartbeat_s": None,
        "ping_timeout_s": 0.2,
        "clock": lambda: float(next(clock)),
    }
    options.update(kwargs)
    return SandboxPool(size, factory, **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Behaviour with the stub: fast and deterministic.


def test_lease_hands_out_a_reset_sandbox_and_reuses_it(factory: StubFactory) -> None:
    seen: list[PoolEvent] = []
    with stub_pool(factory, size=2, on_event=seen.append) as pool:
        with pool.lease("xterm") as sb:
            assert isinstance(sb, Stub) and sb.profile is not None and sb.profile.name == "xterm"
            sb.write_file("note", b"x")
        with pool.lease("xterm") as again:
            assert again is sb and again.files == {}  # reused, and reset in between
    assert kinds(pool.events) == ["created", "reset", "reset", "retired"]
    assert [e.time for e in pool.events] == [1.0, 2.0, 3.0, 4.0]  # the injected clock
    assert seen == pool.events
    assert all(sb.closed for sb in factory.made) and len(factory.made) == 1


def test_unknown_profile_fails_before_taking_a_slot(factory: StubFactory) -> None:
    with stub_pool(factory, size=1) as pool:
        with pytest.raises(errors.ProfileError):
            pool.lease("no-such-app")
        assert factory.made == []


def test_map_keeps_job_order_and_retries_only_broken_sandboxes(factory: StubFactory) -> None:
    calls: dict[int, int] = {}
    lock = threading.Lock()

    def fn(sb: Sandbox, n: int) -> int:
        with lock:
            calls[n] = calls.get(n, 0) + 1
            first = calls[n] == 1
        if n == 2 and first:
            raise errors.GuestDied("the guest died")  # retried on a replacement
        if n == 3:
            raise ValueError("a bug in the job")  # not the sandbox's fault: not retried
        if n == 4:
            raise errors.DisplayDied("dies every time")  # retried once, then the error is the result
        time.sleep(0.01 * (5 - n))  # finish out of order
        return n * 10

    with stub_pool(factory, size=2) as pool:
        results = pool.map(fn, [Job("xterm", n) for n in range(6)], retries=1)
    assert [r.value for r in results] == [0, 10, 20, None, None, 50]
    assert [r.attempts for r in results] == [1, 1, 2, 1, 2, 1]
    assert results[2].ok and isinstance(results[2].failures[0], errors.GuestDied)
    assert isinstance(results[3].error, ValueError)
    assert isinstance(results[4].error, errors.DisplayDied) and len(results[4].failures) == 2
    with pytest.raises(errors.DisplayDied):
        results[4].unwrap()
    events = kinds(pool.events)
    assert events.count("crashed") == 3 and events.count("replaced") >= 2
    assert pool.map(fn, []) == []


def test_a_job_whose_sandbox_died_under_it_is_retried_whatever_it_raised(factory: StubFactory) -> None:
    def fn(sb: Sandbox, n: int) -> str:
        assert isinstance(sb, Stub)
        if sb.id == "stub0":
            sb.dead = errors.DisplayDied("Xvfb exited")
            raise ValueError("garbled reply")  # a backend that misnames the failure
        return sb.id

    with stub_pool(factory, size=1) as pool:
        (result,) = pool.map(fn, [Job("xterm", 0)])
    assert result.value == "stub1" and isinstance(result.failures[0], ValueError)
    assert "on return: DisplayDied" in next(e.detail for e in pool.events if e.kind == "crashed")


def test_a_crash_in_a_lease_retires_the_sandbox_but_an_exited_app_does_not(factory: StubFactory) -> None:
    with stub_pool(factory, size=1) as pool:
        with pytest.raises(errors.AppCrashed), pool.lease("xterm") as sb:
            raise errors.AppCrashed("xterm was killed by signal 9", -9)
        assert sb.closed
        with pool.lease("xterm") as second:
            assert isinstance(second, Stub) and second is not sb
            second.app_exited = True  # the job quit the application: reset brings it back
        with pool.lease("xterm") as third:
            assert third is second
    assert kinds(pool.events, 0)[:6] == ["created", "reset", "crashed", "retired", "replaced", "reset"]


def test_a_reused_sandbox_that_died_while_idle_is_replaced_transparently(factory: StubFactory) -> None:
    with stub_pool(factory, size=1) as pool:
        with pool.lease("xterm") as sb:
            pass
        assert isinstance(sb, Stub)
        sb.dead = errors.DisplayDied("Xvfb exited")
        with pool.lease("xterm") as fresh:
            assert fresh is not sb and fresh.observe().app_running
    assert kinds(pool.events)[:6] == ["created", "reset", "crashed", "retired", "replaced", "reset"]


def test_heartbeat_round_retires_a_sandbox_whose_ping_blocks(factory: StubFactory) -> None:
    with stub_pool(factory, size=2) as pool:
        with pool.lease("xterm") as a, pool.lease("xterm") as b:
            pass
        assert isinstance(a, Stub) and isinstance(b, Stub)
        a.hang_ping.set()
        t0 = time.monotonic()
        retired = pool.check_idle()
        assert time.monotonic() - t0 < 2.0  # ping_timeout_s 0.2 plus the grace, not 30 s
        slot = retired[0]
        assert retired == [slot] and a.closed and not b.closed
        assert kinds(pool.events, slot)[-2:] == ["hung", "retired"]
        assert "GuestHung" in pool.events[-2].detail
        assert pool.check_idle() == []  # the healthy one stays
        with pool.lease("xterm") as c, pool.lease("xterm") as d:
            assert {c, d} & {b} and a not in (c, d)


def test_heartbeat_thread_runs_by_itself(factory: StubFactory) -> None:
    with stub_pool(factory, size=1, heartbeat_s=0.05) as pool:
        with pool.lease("xterm") as sb:
            pass
        assert isinstance(sb, Stub)
        sb.dead = errors.GuestDied("the guest exited")
        deadline = time.monotonic() + 5
        while "retired" not in kinds(pool.events) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kinds(pool.events) == ["created", "reset", "crashed", "retired"]


def test_a_reset_that_hangs_counts_as_hung(factory: StubFactory) -> None:
    with stub_pool(factory, size=1, reset_timeout_s=0.3) as pool:
        with pool.lease("xterm") as sb:
            pass
        assert isinstance(sb, Stub)
        sb.hang_reset.set()
        t0 = time.monotonic()
        with pool.lease("xterm") as fresh:  # the reused one hangs; a fresh one is made once
            assert fresh is not sb
        assert time.monotonic() - t0 < 2.0
    assert "hung" in kinds(pool.events)


def test_a_job_past_its_time_limit_is_abandoned_and_retried(factory: StubFactory) -> None:
    stuck = threading.Event()

    def fn(sb: Sandbox, n: int) -> str:
        assert isinstance(sb, Stub)
        if sb.id == "stub0":
            stuck.set()
            sb.release.wait(30)  # user code that never comes back in time
        return sb.id

    with stub_pool(factory, size=1) as pool:
        t0 = time.monotonic()
        results = pool.map(fn, [Job("xterm", 0), Job("xterm", 1)], job_timeout_s=0.3)
        assert time.monotonic() - t0 < 5
    assert stuck.is_set()
    assert results[0].ok and results[0].value == "stub1" and results[0].attempts == 2
    assert isinstance(results[0].failures[0], errors.GuestHung)
    assert results[1].value == "stub1"  # the one slot was freed at once, not when fn returned
    assert factory.made[0].closed
    assert {"hung", "retired", "replaced"} <= set(kinds(pool.events))


def test_lease_waits_for_a_free_slot_within_its_timeout(factory: StubFactory) -> None:
    with stub_pool(factory, size=1) as pool:
        with pool.lease("xterm"):
            got: list[Sandbox] = []

            def later() -> None:
                with pool.lease("xterm", timeout_s=5) as sb:
                    got.append(sb)

            waiter = threading.Thread(target=later)
            waiter.start()
            t0 = time.monotonic()
            with pytest.raises(errors.SandboxTimeout, match="no sandbox"), pool.lease("xterm", timeout_s=0.2):
                pass
            assert 0.15 < time.monotonic() - t0 < 2
        waiter.join(5)
        assert len(got) == 1


def test_close_is_idempotent_and_ends_leases(factory: StubFactory) -> None:
    pool = stub_pool(factory, size=2)
    with pool.lease("xterm") as sb:
        pool.close()  # while leased: the sandbox is closed under its user
        assert sb.closed
    pool.close()
    assert pool.closed
    with pytest.raises(errors.SandboxClosed), pool.lease("xterm"):
        pass
    assert kinds(pool.events) == ["created", "reset", "retired"]


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        SandboxPool(0, StubFactory())


# --------------------------------------------------------------------------------------------
# Real sandboxes: XvfbSandbox with xterm, broken for real.


def alive(pid: int) -> bool:
    """Return whether ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: Sequence[int], timeout_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def all_pids(sb: XvfbSandbox) -> list[int]:
    return sb.host_pids() + list(sandbox_processes(sb.id))


def until_raises(call: Callable[[], object], timeout_s: float = 5.0) -> None:
    """Call repeatedly until it raises (the error propagates); fail if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        call()
        time.sleep(0.05)
    raise AssertionError(f"{call} kept succeeding for {timeout_s} s")


xvfb = functools.partial(XvfbSandbox, request_timeout_s=2.0)


@pytest.mark.x11
@pytest.mark.timeout(60)
def test_map_runs_jobs_on_two_sandboxes_reset_between_uses() -> None:
    def fn(sb: Sandbox, n: int) -> tuple[str, bool]:
        assert isinstance(sb, XvfbSandbox) and sb.observe().app_running
        clean = not sb.exec(["test", "-e", "marker"]).ok
        sb.write_file("marker", str(n).encode())  # the next job on this sandbox must not see it
        return sb.id, clean

    with SandboxPool(2, xvfb) as pool:
        results = pool.map(fn, [Job("xterm", n) for n in range(6)])
        ids = {r.unwrap()[0] for r in results}
        assert all(r.unwrap()[1] for r in results)
        assert len(ids) == 2
        assert kinds(pool.events).count("reset") == 6
        assert kinds(pool.events).count("created") == 2


@pytest.mark.x11
@pytest.mark.timeout(60)
def test_killing_xvfb_mid_job_retries_the_job_on_a_replacement() -> None:
    victims: list[int] = []

    def fn(sb: Sandbox, n: int) -> str:
        assert isinstance(sb, XvfbSandbox)
        if not victims:
            victims.extend(all_pids(sb))
            os.kill(sb.host_pids()[0], signal.SIGKILL)  # the X server
            until_raises(sb.observe)
        assert sb.observe().app_running
        return sb.id

    with SandboxPool(1, xvfb, heartbeat_s=None) as pool:
        (result,) = pool.map(fn, [Job("xterm", 0)])
        assert result.ok and result.attempts == 2
        # Usually DisplayDied; sometimes the guest reports python-xlib's AssertionError as a
        # GuestError. Either way the return check finds the display dead and the job is retried.
        assert isinstance(result.failures[0], errors.SandboxError)
        events = kinds(pool.events)
        assert events[:6] == ["created", "reset", "crashed", "retired", "replaced", "reset"]
        assert wait_gone(victims) == []  # the broken sandbox left nothing behind


@pytest.mark.x11
@pytest.mark.timeout(60)
def test_killing_the_application_is_detected_and_the_sandbox_replaced() -> None:
    with SandboxPool(1, xvfb, heartbeat_s=None) as pool:
        with pytest.raises(errors.AppCrashed), pool.lease("xterm") as sb:
            assert isinstance(sb, XvfbSandbox)
            first = sb.id
            # From the host: nothing run through exec can see the application (its own session).
            os.kill(find_pid(sb.id, "xterm -fa"), signal.SIGKILL)
            until_raises(sb.ping)
        crashed = [e for e in pool.events if e.kind == "crashed"]
        assert len(crashed) == 1 and "AppCrashed" in crashed[0].detail
        with pool.lease("xterm") as sb:
            assert isinstance(sb, XvfbSandbox) and sb.id != first
            sb.ping()
            assert sb.observe().app_running


@pytest.mark.x11
@pytest.mark.timeout(60)
def test_a_frozen_guest_is_found_by_the_heartbeat_and_by_request_timeouts() -> None:
    def freeze(sb: XvfbSandbox) -> list[int]:
        pids = list(sandbox_processes(sb.id))
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    def fn(sb: Sandbox, n: int) -> str:
        assert isinstance(sb, XvfbSandbox)
        if n == 0 and not frozen_in_job:
            frozen_in_job.extend(freeze(sb))
            sb.observe()  # GuestHung after request_timeout_s
        return sb.id

    frozen_in_job: list[int] = []
    with SandboxPool(1, xvfb, heartbeat_s=0.2, ping_timeout_s=0.5) as pool:
        # Idle: the heartbeat notices.
        with pool.lease("xterm") as sb:
            assert isinstance(sb, XvfbSandbox)
            idle = sb
        frozen = freeze(idle)
        deadline = time.monotonic() + 10
        while "retired" not in kinds(pool.events) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kinds(pool.events)[:4] == ["created", "reset", "hung", "retired"]
        assert "GuestHung" in pool.events[2].detail
        assert idle.closed and wait_gone(frozen + idle.host_pids()) == []
        # Leased: the sandbox's own request timeout raises GuestHung; the job is retried.
        t0 = time.monotonic()
        (result,) = pool.map(fn, [Job("xterm", 0)])
        assert result.ok and isinstance(result.failures[0], errors.GuestHung)
        assert time.monotonic() - t0 < 15
        assert wait_gone(frozen_in_job) == []


@pytest.mark.x11
@pytest.mark.timeout(60)
def test_close_leaves_no_process_behind() -> None:
    pool = SandboxPool(2, xvfb, heartbeat_s=0.2)
    with pool.lease("xterm") as a, pool.lease("xterm") as b:
        assert isinstance(a, XvfbSandbox) and isinstance(b, XvfbSandbox)
        pids = all_pids(a) + all_pids(b)
        assert len(pids) >= 6
        pool.close()  # with both still leased
    pool.close()
    assert a.closed and b.closed
    assert wait_gone(pids) == []
    assert not Path(a.home_path).exists()
