"""Starting host processes that die with us, from one long-lived thread.

Every sandbox process is started through ``setpriv --pdeathsig KILL`` so that it is killed when
this process dies, even by SIGKILL. The kernel sends that signal when the *thread* that forked
the child exits, so all spawning happens on one daemon thread that lives as long as the process;
a pool may create sandboxes from short-lived worker threads without their processes dying.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

_jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def _spawner() -> None:
    while True:
        fn, fut = _jobs.get()
        if fut.set_running_or_notify_cancel():
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)


def _on_spawner(fn: Callable[[], Any]) -> Any:
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_spawner, name="sandbox-spawner", daemon=True)
            _thread.start()
    if threading.current_thread() is _thread:
        return fn()
    fut: Future[Any] = Future()
    _jobs.put((fn, fut))
    return fut.result()


def spawn(
    argv: Sequence[str],
    *,
    user: int | None = None,
    group: int | None = None,
    pass_fds: Sequence[int] = (),
    env: dict[str, str] | None = None,
    stdin: Any = subprocess.DEVNULL,
    stdout: Any = subprocess.DEVNULL,
    stderr: Any = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, killed when this process dies."""
    full = ["setpriv", "--pdeathsig", "KILL", "--", *argv]
    extra: dict[str, Any] = {}
    if user is not None:
        extra.update(user=user, group=group if group is not None else user, extra_groups=[])

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            full,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            pass_fds=tuple(pass_fds),
            env=env,
            process_group=0,
            **extra,
        )

    proc: subprocess.Popen[bytes] = _on_spawner(start)
    return proc


def kill_group(proc: subprocess.Popen[bytes] | None, timeout_s: float = 3.0) -> None:
    """SIGKILL ``proc``'s process group and reap ``proc``; never raises."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except OSError:
        pass
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def processes_with_env(name: str, value: str) -> list[tuple[int, str]]:
    """Return (pid, command line) of live processes (not zombies, not this one) with ``name=value``.

    How tests and the local Ray cluster find what they started, whatever else runs on the machine.
    """
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append((int(entry.name), cmd.strip()))
    return found
