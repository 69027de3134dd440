"""Files written by an older cua open, migrate and read back with today's code.

``tests/fixtures/old_main/`` holds a data directory made by commit 5cabff6 (trajectory schema 1,
memory index version 1) with ``make_fixtures.py``: two finished runs (a success with a final
screenshot and a validator verdict, a failure with a judge verdict) and two memory items.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from cua.memory import ExperienceIndex
from cua.memory import index as memory_index
from cua.store import (
    Actor,
    Provenance,
    RunInfo,
    RunSource,
    RunStatus,
    StepRecord,
    TrajectoryStore,
    VerdictSource,
)
from cua.store import schema as store_schema

OLD_MAIN = Path(__file__).parent.parent / "fixtures" / "old_main"
SUCCESS_RUN = "1kav9ftz872dv"
FAILED_RUN = "1kav9fzvgdmja"


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def columns(path: Path, table: str) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(OLD_MAIN / "trajectories", data / "trajectories")
    shutil.copytree(OLD_MAIN / "memory", data / "memory")
    return data


def test_the_fixtures_are_small_and_old() -> None:
    size = sum(p.stat().st_size for p in OLD_MAIN.rglob("*") if p.is_file())
    assert size < 200_000
    assert user_version(OLD_MAIN / "trajectories" / "trajectories.db") == 1
    assert "source" not in columns(OLD_MAIN / "trajectories" / "trajectories.db", "runs")
    assert user_version(OLD_MAIN / "memory" / "memory.sqlite") == 1


def test_an_old_trajectory_store_migrates_and_reads_back(data_dir: Path) -> None:
    db = data_dir / "trajectories" / "trajectories.db"
    with TrajectoryStore(data_dir, min_free_bytes=0, reserve_bytes=0) as store:
        assert store.recovered == ()
        assert user_version(db) == store_schema.SCHEMA_VERSION == 2
        runs = {run.id: run for run in store.list_runs()}
        assert set(runs) == {SUCCESS_RUN, FAILED_RUN}
        assert {run.source for run in runs.values()} == {RunSource.RUN}
        assert store.list_runs(source="run") and not store.list_runs(source="eval")

        good = runs[SUCCESS_RUN]
        assert (good.status, good.instruction, good.step_count) == (RunStatus.SUCCESS, "Press OK", 2)
        assert good.verdict is not None and good.verdict.source is VerdictSource.VALIDATOR
        assert good.verdict.success is True and good.verdict.reasons == ("the dialog closed",)
        assert good.final_screenshot is not None
        assert store.screenshot(good.final_screenshot).size == (32, 20)
        steps = store.steps(SUCCESS_RUN)
        assert [s.thought for s in steps] == ["press it", "done"]
        assert {s.actor for s in steps} == {Actor.AGENT}
        for step in steps:
            assert store.screenshot(step.screenshot).size == (32, 20)

        bad = runs[FAILED_RUN]
        assert bad.status is RunStatus.FAILURE and bad.verdict is not None
        assert bad.verdict.success is False and bad.verdict.source is VerdictSource.JUDGE
        assert [s.actor for s in store.steps(FAILED_RUN)] == [Actor.AGENT]
    assert {"source"} <= columns(db, "runs") and {"actor"} <= columns(db, "steps")
    with TrajectoryStore(data_dir, min_free_bytes=0, reserve_bytes=0) as again:  # already migrated
        assert len(again.list_runs()) == 2


def test_an_old_memory_index_migrates_and_reads_back(data_dir: Path) -> None:
    path = data_dir / "memory" / "memory.sqlite"
    with ExperienceIndex.beside(data_dir) as index:
        assert index.path == path
        assert user_version(path) == memory_index.SCHEMA_VERSION == 2
        assert index.excluded_runs() == {}  # migration 2 added the table, empty
        assert index.encoder_name == "static-test"
        assert index.count() == 2
        assert (index.count("success"), index.count("pitfall")) == (1, 1)
        items = {item.instruction: item for item in index.items()}
        success = index.get(items["Press OK"].id)
        assert success.kind == "success" and success.family == "fake.press-ok"
        assert [s.text() for s in success.steps] == ["click on push button 'OK'", "done"]
        assert success.runs == (SUCCESS_RUN,)
        pitfall = items["Type hello"]
        assert pitfall.kind == "pitfall" and pitfall.reasons == ("nothing typed",)
        assert index.run_ids() == {SUCCESS_RUN: success.id, FAILED_RUN: pitfall.id}
        assert index.step_vectors(success.id).shape == (2, 160)
        assert index.arrays().ids.tolist() == sorted(index.run_ids().values())


def test_the_migrated_store_records_new_runs_beside_the_old(data_dir: Path) -> None:
    with TrajectoryStore(data_dir, min_free_bytes=0, reserve_bytes=0) as store:
        new = store.start_run(
            RunInfo("Press OK again", "fake", Provenance(model="tiny"), source=RunSource.EVAL)
        )
        step = store.add_step(new, StepRecord("took over", actor=Actor.PERSON), Image.new("RGB", (32, 20)))
        store.finish_run(new, "success")
        assert step.actor is Actor.PERSON
        assert [run.id for run in store.list_runs(source="eval")] == [new]
        assert {run.id for run in store.list_runs(source="run")} == {SUCCESS_RUN, FAILED_RUN}
    with ExperienceIndex.beside(data_dir) as index:
        assert index.detach_run(FAILED_RUN) is True
        assert index.count() == 1
