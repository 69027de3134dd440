"""Training rows from a real exploration, a learning round, and built-in tasks kept out of both.

A small exploration of galculator (real sandboxes, walks, proofs, attempts by the match policy)
is the experience. The store also gets a validator-verified run of a *built-in* task (its oracle,
recorded like any run): the dataset builder and the round must never use it, in rows, gate
instances or the regression set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cua.agent import Agent, AgentConfig
from cua.episode import run_episode
from cua.explore import Explorer, ExploreSettings
from cua.explore.db import ExploreDB
from cua.explore.rounds import RoundSettings, learning_round, listed_tasks
from cua.learn.dataset import build_rows, synthesized_tasks
from cua.learn.gate import GateConfig
from cua.learn.registry import ModelRegistry
from cua.learn.train import TrainConfig
from cua.policies import screen_features as sf
from cua.policies.oracle import OraclePolicy
from cua.store import RunSource, TrajectoryStore
from cua.tasks import resolve_task
from cua.tasks.spec import task_hash
from sandbox import XvfbSandbox

pytestmark = [pytest.mark.x11, pytest.mark.timeout(900)]
BUILTIN = "galculator.press-digit/0"


@pytest.fixture(scope="module")
def explored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("explored")
    settings = ExploreSettings("galculator", episodes=3, random_actions=3, gui_near_misses=False, attempts=1)
    Explorer(settings, data, XvfbSandbox).run()
    _, task = resolve_task(BUILTIN)
    with XvfbSandbox() as box, TrajectoryStore(data) as store:
        agent = Agent(OraclePolicy(task, box), box, store=store, config=AgentConfig(max_steps=task.max_steps))
        outcome = run_episode(agent, task=task, source=RunSource.EXPLORE)
    assert outcome.verdict is not None and outcome.verdict.passed  # a verified built-in run is in the store
    return data


def test_rows_come_only_from_synthesized_tasks(explored: Path) -> None:
    _, builtin = resolve_task(BUILTIN)
    db = ExploreDB(explored / "explore.sqlite")
    listed = listed_tasks(db)
    db.close()
    assert listed, "the exploration admitted no task"
    with XvfbSandbox() as box, TrajectoryStore(explored) as store:
        rows, report = build_rows(lambda: box, listed, store)
    assert rows and report.by_source["demonstration"] > 0
    assert report.skipped["run of an unsynthesized task"] >= 1  # the built-in run, counted and unused
    assert task_hash(builtin) not in {r.task_hash for r in rows}
    assert all(r.instruction != builtin.instruction for r in rows)
    # Every demonstration ends with done, and its pointer targets are options of its own screen.
    for r in rows:
        options = sf.options_of(r.policy_input().a11y, r.policy_input().ocr)
        t = r.target_of()
        if t.kind in sf.POINTER_KINDS:
            assert t.option is not None and t.option < len(options)
    assert {r.target["kind"] for r in rows if r.history and r.step == len(r.history)} >= {"done"}


def test_a_round_trains_gates_and_records_its_decision(explored: Path) -> None:
    settings = RoundSettings(
        train=TrainConfig(epochs=3), gate=GateConfig(max_instances=2), holdout=2, regression=1, max_steps=4
    )
    report = learning_round(explored, XvfbSandbox, settings)
    assert report.model_id and report.rows > 0 and report.train["epochs_run"] == 3
    assert report.parent == "shipped"
    db = ExploreDB(explored / "explore.sqlite")
    tasks, _ = synthesized_tasks(listed_tasks(db))
    db.close()
    synthesized = {st.hash for st in tasks}
    regression = json.loads((explored / "learn" / "regression.json").read_text())
    assert set(regression) <= synthesized  # the regression set is synthesized tasks only
    with ModelRegistry(explored) as reg:
        entry = reg.get(report.model_id)
        (decision,) = [d for d in reg.decisions(entry.id) if d.source == "gate"] or [None]
        assert decision is not None
        assert entry.status == ("promoted" if report.promoted else "rejected")
        assert entry.metrics["gate"]["alpha"] == 0.05
    with TrajectoryStore(explored) as store:
        gate_runs = [r for r in store.list_runs(source=RunSource.EVAL) if r.extra.get("gate")]
    assert gate_runs and all(r.task_hash in synthesized for r in gate_runs)  # never a built-in task


def test_exploration_learns_every_n_verified_episodes(explored: Path) -> None:
    settings = ExploreSettings("galculator", episodes=1, gui_near_misses=False, attempts=0, train_every=2)
    explorer = Explorer(settings, explored, XvfbSandbox)
    explorer.round_settings = RoundSettings(
        train=TrainConfig(epochs=2), gate=GateConfig(max_instances=2), holdout=2, regression=1, max_steps=3
    )
    try:
        explorer._maybe_learn(1)  # one verified episode: not yet
        assert explorer.rounds == []
        explorer._maybe_learn(1)  # the second: a round
    finally:
        explorer.db.close()
    (report,) = explorer.rounds
    assert report["model_id"] and report["decision"]["reason"]
    db = ExploreDB(explored / "explore.sqlite")
    logged = [d for d in db.decisions(settings.exploration_id) if d[1] == "learning round"]
    db.close()
    assert logged and logged[-1][3]["model"] == report["model_id"]
