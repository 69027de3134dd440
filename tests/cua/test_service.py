"""The service facade: runs, evaluations and records, one call each, reporting events, printing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cua import actions as act
from cua.agent import AgentControl, StepEvent
from cua.episode import Phase
from cua.errors import UsageError
from cua.policies.scripted import ScriptedPolicy
from cua.service import EpisodeDone, EvalStarted, Notice, RunRequest, Service, ServiceEvent
from cua.store import RunSource, RunStatus, VerdictSource
from cua.tasks import task_hash
from sandbox.fake import FakeSandbox
from tests.cua.test_episode import OK, fake_task


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(tmp_path / "data", sandbox_factory=lambda app: FakeSandbox())


def test_a_task_runs_end_to_end_on_the_fake_sandbox_without_printing(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    task = fake_task()
    events: list[ServiceEvent] = []
    out = service.run_task(task, ScriptedPolicy([act.Click(*OK), act.Done()]), on_event=events.append)
    assert capsys.readouterr() == ("", "")
    assert out.status == RunStatus.SUCCESS and out.passed and out.steps == 2
    assert [e.text for e in events if isinstance(e, Notice)] == ["starting fake in a sandbox ..."]
    assert [e.index for e in events if isinstance(e, StepEvent)] == [0, 1]
    assert [e.name for e in events if isinstance(e, Phase)][:2] == ["setup", "agent"]
    (run,) = service.list_runs()
    assert run.id == out.run_id and run.source == RunSource.RUN
    assert run.task_id == task.id and run.task_hash == task_hash(task)
    detail = service.show_run(run.id)
    assert len(detail.steps) == 2 and detail.verdicts[-1].source == VerdictSource.VALIDATOR
    verdict = service.overrule(run.id, False, "the wrong button was pressed")
    assert verdict.source == VerdictSource.PERSON and service.show_run(run.id).run.verdict.success is False  # type: ignore[union-attr]


def test_an_instruction_run_streams_its_events_and_is_judged(service: Service) -> None:
    request = RunRequest(ScriptedPolicy([act.Click(*OK), act.Done()]), instruction="press OK", app="fake")
    gen = service.run_events(request, control=AgentControl())
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        out = stop.value
    assert sum(isinstance(e, StepEvent) for e in events) == 2
    assert out.verdict is None and out.critic is not None and out.critic.source == VerdictSource.HEURISTIC
    (run,) = service.list_runs(source="run")
    assert run.task_hash is None and run.status == RunStatus.SUCCESS


def test_requests_are_checked_before_anything_starts(service: Service) -> None:
    policy = ScriptedPolicy([act.Done()])
    with pytest.raises(UsageError, match="not both"):
        service.run(RunRequest(policy, instruction="x", task=fake_task()))
    with pytest.raises(UsageError, match="instruction is empty"):
        service.run(RunRequest(policy, instruction="  ", app="fake"))
    with pytest.raises(UsageError, match="max-steps"):
        service.run(RunRequest(policy, instruction="x", app="fake", max_steps=0))
    with pytest.raises(UsageError, match="unknown policy 'genius'"):
        service.evaluate("xterm", "genius")
    assert service.list_runs() == []


def test_evaluate_reports_progress_events(tmp_path: Path) -> None:
    from dataclasses import replace

    from sandbox.pool import SandboxPool

    tasks = [replace(fake_task(), id=f"fake.press-ok/{i}", app="xterm") for i in range(2)]  # a real profile
    events: list[ServiceEvent] = []
    with SandboxPool(2, factory=FakeSandbox) as pool:
        report = Service(tmp_path / "data").evaluate(tasks, "noop", pool=pool, on_event=events.append)
    assert report.overall.episodes == 2 and report.overall.successes == 0
    assert isinstance(events[0], EvalStarted) and events[0].tasks == 2
    done = [e for e in events if isinstance(e, EpisodeDone)]
    assert sorted(e.done for e in done) == [1, 2] and all(e.total == 2 for e in done)
    runs = Service(tmp_path / "data").list_runs()
    assert {r.source for r in runs} == {RunSource.EVAL} and all(r.task_hash for r in runs)
