"""Replay: parameter rewriting, re-location after a moved/resized window, handover on divergence."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from cua import actions as act
from cua.agent import Agent, AgentConfig
from cua.eval.suite import evaluate
from cua.policies.oracle import OraclePolicy
from cua.policies.replay import ParamMap, ReplayError, ReplayPolicy, load_recording
from cua.policies.scripted import ScriptedPolicy
from cua.replay import replay
from cua.store import RunSource, TrajectoryStore, VerdictSource
from cua.tasks import find_task, start, task_hash
from sandbox import XvfbSandbox


def test_shared_values_are_used_in_declaration_order() -> None:
    pm = ParamMap({"a1": 4, "a0": 4, "b0": 7, "a": 44}, {"a1": 8, "a0": 6, "b0": 2, "a": 86})
    assert [pm.text("4"), pm.text("7"), pm.text("4"), pm.text("4")] == ["8", "2", "6", "6"]
    assert pm.text("44 and 4", consume=False) == "86 and 6"


def test_values_are_rewritten_only_as_whole_tokens() -> None:
    pm = ParamMap({"v0": 6, "name": "apr.csv", "stem": "apr"}, {"v0": 16, "name": "mar.csv", "stem": "mar"})
    assert pm.text("=SUM(B2:B6)\n") == "=SUM(B2:B6)\n"
    assert pm.text("6\n") == "16\n"
    assert pm.text("mv apr.csv apr/") == "mv mar.csv mar/"


def test_identical_params_and_lists_rewrite_nothing() -> None:
    pm = ParamMap({"ref": "F2", "v": [1, 2]}, {"ref": "F2", "v": [3, 4]})
    assert pm.identity
    assert pm.text("F2 1 2") == "F2 1 2"


def test_repeat_counts_follow_numeric_params() -> None:
    pm = ParamMap({"k": 4, "other": 5}, {"k": 2, "other": 3})
    assert pm.count(4) == 2
    assert pm.count(7) == 7


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrajectoryStore, str]:
    store = TrajectoryStore(Path(tmp_path_factory.mktemp("replay")))
    _, task = find_task("galculator.add/0")
    report = evaluate([task], lambda t, sb, seed: OraclePolicy(t, sb), policy_name="oracle", store=store)
    assert report.episodes[0].passed and report.episodes[0].run_id
    return store, report.episodes[0].run_id


@pytest.mark.x11
def test_replay_on_another_instance_with_the_window_moved_and_resized(
    recorded: tuple[TrajectoryStore, str],
) -> None:
    store, run_id = recorded
    with XvfbSandbox() as sandbox:
        result = replay(store, run_id, sandbox, task_id="galculator.add/1", move_window=True)
    assert result.window is not None
    assert result.window.shift_px >= 200 and result.window.scale >= 0.2
    assert result.stats.handed_over_at is None, result.stats.reason
    assert result.stats.relocated == 6  # every click re-found by its locator
    assert result.passed, result.reasons
    run = store.get_run(result.run_id or "")
    assert run.verdict is not None and run.verdict.source == VerdictSource.VALIDATOR
    assert run.source == RunSource.REPLAY and run.task_hash == task_hash(find_task("galculator.add/1")[1])
    assert run.extra["replay_of"] == run_id and store.get_run(run_id).source == RunSource.EVAL


@pytest.mark.x11
def test_a_save_dialog_is_replayed_to_the_saved_state(tmp_path: Path) -> None:
    """The oracle's waits (file saved, dialog closed) are part of the record, so the replay ends only
    once the new file exists: the step before ``done`` was recorded after the oracle's wait."""
    store = TrajectoryStore(tmp_path)
    _, task = find_task("mousepad.letter-save-as/0")
    report = evaluate([task], lambda t, sb, seed: OraclePolicy(t, sb), policy_name="oracle", store=store)
    run_id = report.episodes[0].run_id
    assert report.episodes[0].passed and run_id
    last = store.steps(run_id)[-1]
    assert last.action == {"type": "done", "answer": None} and "Save As" not in (last.window_title or "")
    with XvfbSandbox() as sandbox:
        result = replay(store, run_id, sandbox, task_id="mousepad.letter-save-as/1", move_window=True)
    assert result.stats.handed_over_at is None, result.stats.reason
    assert result.passed, result.reasons


@pytest.mark.x11
def test_a_missing_target_hands_over_to_the_fallback(recorded: tuple[TrajectoryStore, str]) -> None:
    store, run_id = recorded
    steps = list(load_recording(store, run_id).steps)
    # The first click's target no longer exists (a button the application does not have).
    steps[0] = replace(steps[0], hit={**dict(steps[0].hit or {}), "name": "no-such-button", "path": None})
    _, task = find_task("galculator.add/0")
    fallback = ScriptedPolicy([act.Done()], format_name="pyautogui", name="fallback")
    with XvfbSandbox() as sandbox:
        obs = start(sandbox, task)
        policy = ReplayPolicy(steps, sandbox, fallback=fallback, wait_s=0.5, source_run=run_id)
        result = Agent(policy, sandbox, config=AgentConfig(max_steps=5)).run(
            task.instruction, obs, app=task.app
        )
    assert policy.stats.handed_over_at == 0
    assert "no-such-button" in (policy.stats.reason or "")
    assert len(fallback.inputs) == 1  # the fallback answered the step the replay could not
    assert result.status.value == "success" and result.steps == 1
    info = policy.provenance()
    assert info["fallback"]["backend"] == "scripted" and info["handed_over_at"] == 0


def test_unverified_runs_are_refused(tmp_path: Path) -> None:
    from cua.store import Provenance, RunInfo

    with TrajectoryStore(tmp_path) as store:
        run_id = store.start_run(RunInfo("x", "galculator", Provenance(model="m"), "galculator.add/0"))
        store.finish_run(run_id, "success", "done")
        with pytest.raises(ReplayError, match="never judged"):
            load_recording(store, run_id)


@pytest.mark.x11
def test_cua_replay_command(recorded: tuple[TrajectoryStore, str]) -> None:
    store, run_id = recorded
    where = ["--data-dir", str(store.data_dir)]
    cmd = [sys.executable, "-m", "cua", "replay", run_id, "--task", "galculator.add/2", "--move-window"]
    cmd.append("--json")
    out = subprocess.run([*cmd, *where], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["passed"] and result["task"] == "galculator.add/2" and result["window"]["shift_px"] >= 200
    missing = subprocess.run([sys.executable, "-m", "cua", "replay", "no-such-run", *where],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode != 0 and "no run 'no-such-run'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1  # one clear line, no traceback
