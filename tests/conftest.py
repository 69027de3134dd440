"""Suite-wide fixtures, and the check that the suite leaves no sandbox process behind.

Every process a sandbox starts (Xvfb, bwrap, and inside it D-Bus, openbox, the guest, the
applications) carries ``CUA_SANDBOX_TAG=<this session's tag>`` in its environment, so the
check finds exactly what this test session started, whatever else runs on the machine.

Sandboxes for tests: ``sb`` is one XvfbSandbox shared by a module's tests (starting a display
and container costs more than most tests), and ``new_sandbox`` starts sandboxes a test keeps to
itself, for tests that break, freeze or close theirs. Both close what they started.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from sandbox import XvfbSandbox
from sandbox.process import processes_with_env

os.environ.setdefault("CUA_SANDBOX_TAG", f"pytest-{uuid.uuid4().hex[:10]}")
TAG = os.environ["CUA_SANDBOX_TAG"]


def tagged_processes(tag: str = TAG) -> list[tuple[int, str]]:
    """Return (pid, command line) of live processes carrying ``tag``."""
    return processes_with_env("CUA_SANDBOX_TAG", tag)


def x11_available() -> bool:
    return all(shutil.which(t) for t in ("Xvfb", "bwrap")) and os.access("/opt/cua-guest/bin/python", os.X_OK)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups off the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under ``--dist loadgroup`` a test without a group of its own goes with its file, as under
    # ``--dist loadfile``, so a module's shared sandbox is started once; a module may split
    # itself into groups that spread over the workers (the proofs: one group per application).
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    if x11_available():
        return
    skip = pytest.mark.skip(reason="Xvfb/bwrap/guest runtime missing: run scripts/setup_system.sh")
    for item in items:
        if "x11" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def sb() -> Iterator[XvfbSandbox]:
    """One XvfbSandbox for all the tests of a module, closed after the last; not yet reset.

    Each test's ``reset`` starts the application it wants, as an agent's does, so no test
    depends on what an earlier one left running.
    """
    with XvfbSandbox() as box:
        yield box


@pytest.fixture
def new_sandbox() -> Iterator[Callable[..., XvfbSandbox]]:
    """Start sandboxes of the test's own: ``new_sandbox("xterm", request_timeout_s=3.0)``.

    Every sandbox it started is closed after the test, whatever the test did to it.
    """
    with ExitStack() as started:

        def start(app: str | None = None, **options: Any) -> XvfbSandbox:
            box = started.enter_context(XvfbSandbox(**options))
            if app is not None:
                box.reset(app)
            return box

        yield start


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checks once every worker has finished
    deadline = time.monotonic() + 5.0
    leaked = tagged_processes()
    while leaked and time.monotonic() < deadline:
        time.sleep(0.1)
        leaked = tagged_processes()
    if leaked:
        lines = "\n".join(f"  {pid}: {cmd[:160]}" for pid, cmd in leaked)
        print(f"\nLEAKED SANDBOX PROCESSES after the test session:\n{lines}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
