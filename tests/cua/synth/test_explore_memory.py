"""An exploration grows the experience memory as its attempts end, and the report shows the growth."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cua.explore import Explorer, ExploreSettings
from cua.explore.db import ExploreDB
from cua.explore.report import build
from cua.memory.index import ExperienceIndex
from cua.store import TrajectoryStore
from sandbox.xvfb import XvfbSandbox

pytestmark = pytest.mark.x11


def test_each_judged_attempt_is_admitted_to_memory_as_it_ends(tmp_path: Path) -> None:
    settings = ExploreSettings(
        "galculator", episodes=2, random_actions=2, gui_near_misses=False, composed=0, attempts=2
    )
    explorer = Explorer(settings, tmp_path, XvfbSandbox)
    try:
        summary = explorer.run()
    finally:
        explorer.db.close()
    assert summary["status"] == "finished" and summary["attempts"] >= 1, summary
    db = ExploreDB(tmp_path / "explore.sqlite")
    try:
        growth = db.memory_growth(settings.exploration_id)
        attempts = db._rows("SELECT run_id, success FROM attempts WHERE run_id IS NOT NULL")
    finally:
        db.close()
    assert len(growth) == len(attempts)  # one memory decision per recorded attempt
    with TrajectoryStore(tmp_path) as store, ExperienceIndex.beside(tmp_path) as index:
        in_memory = {run for run, _ in attempts if index.item_of_run(run) is not None}
        judged = {run for run, _ in attempts if store.get_run(run).verdict is not None}
        assert in_memory == judged and in_memory, (attempts, growth)  # every judged attempt, as it ended
        kinds = {index.items([index.item_of_run(run) or 0])[0].kind for run in in_memory}
        assert kinds == {"success" if ok else "pitfall" for run, ok in attempts if run in in_memory}
        assert growth[-1][3] == index.count() == summary["memory_items"]
        assert summary["memory_admitted"] == sum(1 for *_, d, _ in growth if d in ("success", "pitfall"))
        # A run a person took out of memory stays out when it is seen again.
        taken = sorted(in_memory)[0]
        assert index.exclude_run(taken, "a person said so")
        before = index.count()
    again = Explorer(settings, tmp_path, XvfbSandbox)
    try:
        again.remember(taken, 99)
        last = again.db.memory_growth(settings.exploration_id)[-1]
        assert last[1:3] == (99, "taken out of memory by a person")
    finally:
        again.db.close()
        assert again.store is not None
        again.store.close()
        if again._memory is not None:
            again._memory[0].close()
    with ExperienceIndex.beside(tmp_path) as index:
        assert index.count() == before and index.item_of_run(taken) is None
    page = build(tmp_path / "explore.sqlite", "galculator")
    assert "Memory growth" in page and "Experience memory over the attempts" in page
    assert "Learning rounds" in page and "--train-every" in page  # none ran: it says how to get them


def test_no_memory_leaves_the_memory_alone(tmp_path: Path) -> None:
    settings = ExploreSettings("galculator", episodes=1, random_actions=2, gui_near_misses=False, composed=0)
    settings = replace(settings, attempts=1, memory=False)
    explorer = Explorer(settings, tmp_path, XvfbSandbox)
    try:
        summary = explorer.run()
    finally:
        explorer.db.close()
    assert summary["memory_items"] is None and summary["memory_admitted"] == 0
    assert not ExperienceIndex.path_beside(tmp_path).exists()


def test_a_broken_memory_costs_the_memory_not_the_exploration(tmp_path: Path) -> None:
    index = ExperienceIndex.path_beside(tmp_path)
    index.parent.mkdir(parents=True)
    index.write_bytes(b"not a database, " * 64)  # a memory file damaged on disk
    settings = ExploreSettings("galculator", episodes=1, random_actions=2, gui_near_misses=False, composed=0)
    settings = replace(settings, seed=4, attempts=1)  # its first walk proves a task to attempt
    explorer = Explorer(settings, tmp_path, XvfbSandbox)
    try:
        summary = explorer.run()
        memory = [(d, f) for _, k, d, f in explorer.db.decisions(settings.exploration_id) if k == "memory"]
    finally:
        explorer.db.close()
    assert summary["status"] == "finished" and summary["attempts"] == 1, summary
    assert summary["memory_failed"] == 1 and summary["memory_items"] is None
    ((decision, figures),) = memory
    assert figures == {"run": figures["run"], "walk": 0}
    assert decision.startswith("not admitted: ") and "memory" in decision, decision  # says what broke
    assert index.read_bytes() == b"not a database, " * 64  # left as it was, for a person to look at
    page = build(tmp_path / "explore.sqlite", "galculator")
    assert "Attempts the memory could not take" in page and "is damaged or is not a cua database" in page
