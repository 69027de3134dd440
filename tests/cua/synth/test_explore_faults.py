"""An exploration survives broken sandboxes: a dead guest is restarted by the next reset; a sandbox that
is gone costs the walk in flight, recorded with its cause, and the rest run in a new sandbox."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cua.explore import Explorer, ExploreSettings, WalkResult
from sandbox.xvfb import XvfbSandbox
from tests.sandbox.procs import find_pid

pytestmark = pytest.mark.x11


def test_broken_sandboxes_cost_at_most_the_walk_in_flight(tmp_path: Path) -> None:
    made: list[XvfbSandbox] = []

    def make() -> XvfbSandbox:
        made.append(XvfbSandbox())
        return made[-1]

    def progress(result: WalkResult, summary: dict[str, Any]) -> None:
        if result.number == 0:  # the whole sandbox goes away (torn down under the explorer)
            made[-1].close()
        if result.number == 2:  # the guest agent dies between two walks
            os.kill(find_pid(made[-1].id, "guest/run.py"), signal.SIGKILL)

    settings = ExploreSettings("galculator", episodes=4, random_actions=2, gui_near_misses=False, attempts=0)
    explorer = Explorer(settings, tmp_path, make, progress)
    try:
        summary = explorer.run()
    finally:
        explorer.db.close()
    assert summary["status"] == "finished" and summary["walks"] == 4, summary
    with sqlite3.connect(tmp_path / "explore.sqlite") as conn:
        ended = dict(conn.execute("SELECT number, ended FROM walks"))
    # The closed sandbox costs walk 1, and walk 2 runs in a new one; a guest killed after walk 2
    # is restarted by the next reset, or costs walk 3 (the last).
    assert ended[0] == "" and ended[2] == "", ended
    assert "SandboxClosed" in ended[1], ended
    assert ended[3] == "" or "GuestDied" in ended[3], ended
    assert len(made) == 2 and all(sb.closed for sb in made)  # replaced once, none leaked
