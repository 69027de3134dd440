"""The one task episode: setup, agent, validator, critic, memory settle; the run always ends."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cua import actions as act
from cua.agent import Agent, AgentConfig, StepEvent
from cua.episode import EpisodeEvent, Phase, episode_steps, run_episode
from cua.eval.suite import evaluate
from cua.policies.scripted import ScriptedPolicy
from cua.store import RunSource, RunStatus, TrajectoryStore, VerdictSource
from cua.tasks import TaskSpec, parse_document, task_hash
from sandbox.errors import GuestDied
from sandbox.fake import FakeSandbox
from sandbox.pool import SandboxPool

OK = (640, 400)  # the fake's OK button


def fake_task(index: int = 0) -> TaskSpec:
    """A task on the fake sandbox: press OK; the validator reads the window title."""
    doc = {"id": "fake.press-ok", "app": "fake", "difficulty": 1, "instruction": "Press OK.",
           "validator": {"window_title": {"equals": "Finished"}}}  # fmt: skip
    (family,) = parse_document(doc)
    return family.tasks()[index]


@pytest.fixture
def store(tmp_path: Path) -> TrajectoryStore:
    return TrajectoryStore(tmp_path / "data")


class Settling:
    """A memory hook that records how the episode settled it."""

    def __init__(self) -> None:
        self.shown_ever = {7}
        self.outcomes: list[bool] = []

    def retrieve(self, instruction: str, observation: Any, history: Any) -> str:
        return "remembered: press OK"

    def outcome(self, success: bool) -> int:
        self.outcomes.append(success)
        return 1


def test_a_task_episode_is_set_up_validated_judged_and_settled(store: TrajectoryStore) -> None:
    task, hook = fake_task(), Settling()
    agent = Agent(ScriptedPolicy([act.Click(*OK), act.Done()]), FakeSandbox(), store=store, memory=hook)
    events: list[EpisodeEvent] = []
    out = run_episode(agent, task=task, source=RunSource.EVAL, on_event=events.append)
    assert out.status == RunStatus.SUCCESS and out.passed and out.steps == 2
    assert out.verdict is not None and out.verdict.passed
    assert out.critic is not None and out.critic.source == VerdictSource.VALIDATOR
    assert hook.outcomes == [True] and out.memory_shown == (7,) and out.memory_settled is True
    assert [e.name for e in events if isinstance(e, Phase)] == [
        "setup",
        "agent",
        "validate",
        "critic",
        "memory",
    ]
    assert len([e for e in events if isinstance(e, StepEvent)]) == 2
    assert {"setup", "agent", "validate", "critic", "total"} <= set(out.timings)
    run = store.get_run(out.run_id)  # type: ignore[arg-type]
    assert run.source == RunSource.EVAL and run.task_id == task.id and run.task_hash == task_hash(task)
    assert run.verdict is not None and run.verdict.success and "heuristics" in run.verdict.evidence


def test_a_free_run_is_judged_by_the_critic(store: TrajectoryStore) -> None:
    agent = Agent(ScriptedPolicy([act.Click(*OK), act.Done()]), FakeSandbox(), store=store)
    out = run_episode(agent, instruction="press OK", app="fake")
    assert out.verdict is None and out.critic is not None
    assert out.critic.source == VerdictSource.HEURISTIC
    run = store.get_run(out.run_id)  # type: ignore[arg-type]
    assert run.source == RunSource.RUN and run.task_hash is None and run.verdict is not None


def test_when_validation_raises_the_run_is_ended_with_its_steps_and_the_error_is_stored(
    store: TrajectoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(sandbox: Any, task: TaskSpec, **evidence: Any) -> Any:
        raise GuestDied("the guest died while validating")

    monkeypatch.setattr("cua.episode.validate", broken)
    agent = Agent(ScriptedPolicy([act.Click(*OK), act.Done()]), FakeSandbox(), store=store)
    with pytest.raises(GuestDied):
        run_episode(agent, task=fake_task())
    (run,) = store.list_runs()
    assert run.status == RunStatus.SUCCESS and run.step_count == 2  # the agent's own end stays
    assert run.verdict is not None and run.verdict.success is None
    assert "the validator could not run: GuestDied" in run.verdict.reasons[0]


def test_closing_the_episode_early_ends_the_run_as_cancelled(store: TrajectoryStore) -> None:
    agent = Agent(ScriptedPolicy([act.Wait(0.01)], then="repeat"), FakeSandbox(), store=store,
                  config=AgentConfig(max_steps=50, loop_limit=100))  # fmt: skip
    steps = episode_steps(agent, task=fake_task())
    seen = [e for _, e in zip(range(5), steps, strict=False)]
    assert sum(isinstance(e, StepEvent) for e in seen) == 3  # setup, agent, then three steps
    steps.close()
    (run,) = store.list_runs()
    assert run.status == RunStatus.CANCELLED and run.step_count == 3
    assert run.verdict is None  # nothing judged a run that was stopped


def test_an_event_callback_that_raises_ends_the_episode_as_error(store: TrajectoryStore) -> None:
    agent = Agent(ScriptedPolicy([act.Wait(0.01)], then="repeat"), FakeSandbox(), store=store,
                  config=AgentConfig(max_steps=50, loop_limit=100))  # fmt: skip
    seen: list[StepEvent] = []

    def on_event(event: EpisodeEvent) -> None:
        if isinstance(event, StepEvent):
            seen.append(event)
            if len(seen) == 2:
                raise RuntimeError("the window went away")

    out = run_episode(agent, task=fake_task(), on_event=on_event)
    assert (
        out.status == RunStatus.ERROR and "step callback" in out.summary and "window went away" in out.summary
    )
    run = store.get_run(out.run_id)  # type: ignore[arg-type]
    assert run.status == RunStatus.ERROR and run.step_count == 2


def test_evaluate_records_eval_runs_with_their_task_hash(store: TrajectoryStore) -> None:
    # The pool resets its sandboxes by profile: a real profile's name, on the fake's screens.
    tasks = [replace(fake_task(0), app="xterm")]
    with SandboxPool(1, factory=FakeSandbox) as pool:
        report = evaluate(tasks, lambda t, sb, s: ScriptedPolicy([act.Click(*OK), act.Done()]),
                          policy_name="scripted", store=store, pool=pool)  # fmt: skip
    (ep,) = report.episodes
    assert ep.passed and ep.run_id
    run = store.get_run(ep.run_id)
    assert run.source == RunSource.EVAL and run.task_hash == task_hash(tasks[0])
    assert run.verdict is not None and run.verdict.source == VerdictSource.VALIDATOR
