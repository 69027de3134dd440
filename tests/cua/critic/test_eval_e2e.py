"""End to end: record real episodes, then measure judges against the validators (and the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cua.cli.critic import critic_app
from cua.critic import ModelJudge
from cua.eval.judge import evaluate_judge, record_runs, record_tasks
from cua.eval.suite import select_tasks
from cua.policies.scripted import ScriptedPolicy
from cua.store import TrajectoryStore, VerdictSource


def test_record_tasks_is_fixed_and_interleaves_apps() -> None:
    tasks = record_tasks(5)
    assert [t.id for t in tasks] == [t.id for t in record_tasks(5)]
    assert len({t.app for t in tasks}) == 5


@pytest.mark.x11
@pytest.mark.timeout(120)
def test_judges_measured_against_recorded_validator_verdicts(tmp_path: Path) -> None:
    tasks = select_tasks("galculator", instances=1)[:2]
    with TrajectoryStore(tmp_path) as store:
        reports = record_runs(store, tasks, policies=("oracle", "noop"), parallel=2, settle_s=0.3)
        assert [r.overall.successes for r in reports] == [2, 0]
        always = ModelJudge(ScriptedPolicy(["VERDICT: success"], then="repeat"))
        scripted = evaluate_judge(store, always)
        heuristic = evaluate_judge(store, None)
        # nothing is written: each run's current verdict is still the validator's
        assert all(
            r.verdict is not None and r.verdict.source == VerdictSource.VALIDATOR for r in store.list_runs()
        )
    assert scripted.confusion.total == 4 and scripted.coverage == 1.0
    assert scripted.confusion.pass_success == 2 and scripted.confusion.fail_success == 2
    assert scripted.accuracy == 0.5 and scripted.kappa == 0.0
    assert heuristic.confusion.total == 4 and heuristic.coverage == 1.0
    assert heuristic.confusion.fail_failure == 2  # noop never acted
    runner = CliRunner()
    out = runner.invoke(critic_app, ["eval", "--data-dir", str(tmp_path), "--judge", "scripted", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["coverage"] == 1.0 and data["kappa"] == 0.0 and data["runs"] == 4
    text = runner.invoke(critic_app, ["eval", "--data-dir", str(tmp_path), "--judge", "heuristic"])
    assert text.exit_code == 0 and "coverage 100.0%" in text.output and "kappa" in text.output
