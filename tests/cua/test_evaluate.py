"""`cua eval` runs suites through the agent loop; validators, not the agent, decide success."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cua.errors import CuaError
from cua.eval.suite import evaluate, select_tasks, wilson
from cua.policies.baselines import NoopPolicy, RandomPolicy
from cua.policies.oracle import OraclePolicy
from cua.store import RunSource, RunStatus, TrajectoryStore
from cua.tasks import task_hash


def test_wilson_interval() -> None:
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.490, abs=1e-3) and hi == pytest.approx(0.943, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(5, 5)[1] == pytest.approx(1.0)


def test_suites_and_splits() -> None:
    all_tasks = select_tasks("all")
    assert len(all_tasks) >= 60 and len({t.app for t in all_tasks}) >= 5
    held = select_tasks("eval")
    assert held and all(t.held_out for t in held)
    assert not any(t.held_out for t in select_tasks("train"))
    assert {t.app for t in select_tasks("all", include_slow=False)}.isdisjoint(
        {"chromium", "libreoffice-calc"}
    )
    assert [t.id for t in select_tasks("galculator.add", instances=2)] == [
        "galculator.add/0",
        "galculator.add/1",
    ]
    with pytest.raises(CuaError, match="unknown suite 'nope'"):
        select_tasks("nope")
    assert len({task_hash(t) for t in all_tasks}) == len(all_tasks)


@pytest.mark.x11
@pytest.mark.timeout(240)
def test_oracle_passes_noop_and_random_fail_and_everything_is_recorded(tmp_path: Path) -> None:
    tasks = select_tasks("galculator", instances=1) + select_tasks("xterm.touch", instances=1)
    with TrajectoryStore(tmp_path) as store:
        oracle = evaluate(
            tasks, lambda t, sb, s: OraclePolicy(t, sb), policy_name="oracle", parallel=2, store=store
        )
        assert oracle.overall.rate == 1.0, oracle.table()
        noop = evaluate(tasks, lambda t, sb, s: NoopPolicy(), policy_name="noop", parallel=2, store=store)
        assert noop.overall.successes == 0
        rnd = evaluate(
            tasks[:2], lambda t, sb, s: RandomPolicy(s), policy_name="random", parallel=2, store=store
        )
        assert rnd.overall.successes == 0
        runs = store.list_runs(limit=100)
        assert len(runs) == 2 * len(tasks) + 2
        for ep in oracle.episodes:
            run = store.get_run(ep.run_id)  # type: ignore[arg-type]
            assert run.status == RunStatus.SUCCESS and run.verdict is not None and run.verdict.success
            assert run.task_id == ep.task and run.task_hash and run.step_count == ep.steps
            assert run.source == RunSource.EVAL
        for ep in noop.episodes:
            assert store.get_run(ep.run_id).verdict.success is False  # type: ignore[arg-type, union-attr]
    table = oracle.table()
    assert "galculator" in table and "95% CI" in table


@pytest.mark.x11
@pytest.mark.timeout(120)
def test_cua_eval_cli_json(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cua", "eval", "--suite", "xterm", "--instances", "1", "--policy", "oracle",
         "--parallel", "2", "--data-dir", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["overall"]["rate"] == 1.0 and report["overall"]["episodes"] == 4
    assert {g["name"] for g in report["by_app"]} == {"xterm"}
    bad = subprocess.run(
        [sys.executable, "-m", "cua", "eval", "--policy", "genius"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown --policy 'genius'" in bad.stderr


@pytest.mark.x11
def test_a_model_given_to_cua_eval_is_the_one_that_acts(tmp_path: Path) -> None:
    """`--model DIR` evaluates that checkpoint (it used to be ignored for the default oracle)."""
    from cua.policies.bundled import checkpoint_hash, default_checkpoint

    ckpt = default_checkpoint()
    for policy in ([], ["--policy", "bundled"], ["--policy", "model"]):
        data = tmp_path / (policy[-1] if policy else "default")
        out = subprocess.run(
            [sys.executable, "-m", "cua", "eval", "--suite", "galculator.press-digit", "--instances", "1",
             "--model", str(ckpt), *policy, "--data-dir", str(data), "--json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        with TrajectoryStore(data) as store:
            (run,) = store.list_runs()
        assert run.provenance.generation["backend"] == "bundled", (policy, run.provenance)
        assert run.provenance.checkpoint == checkpoint_hash(ckpt)
    wrong = subprocess.run(
        [sys.executable, "-m", "cua", "eval", "--policy", "noop", "--model", str(ckpt)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert wrong.returncode == 2 and "--policy noop acts without one" in wrong.stderr, wrong.stderr
