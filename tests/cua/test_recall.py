"""Memory hand-over: a remembered verified run of the same wording is replayed with the new values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cua.eval.suite import evaluate
from cua.memory import AdmissionConfig, ExperienceIndex, ExperienceMemory, StaticEncoder, admit
from cua.policies.baselines import NoopPolicy
from cua.policies.oracle import OraclePolicy
from cua.policies.recall import RecallPolicy, acts_on, instruction_values, tokens
from cua.policies.replay import load_recording
from cua.store import TrajectoryStore
from cua.tasks import TaskSpec, find_task


def test_quoted_values_and_file_names_are_single_tokens() -> None:
    assert tokens("Add the line '9 tea' at the end of shopping.txt.") == [
        "Add", "the", "line", "9 tea", "at", "the", "end", "of", "shopping.txt",
    ]  # fmt: skip
    assert tokens("work out (44 + 47) × 40") == ["work", "out", "(", "44", "+", "47", ")", "×", "40"]


def test_only_the_same_wording_with_other_values_pairs_up() -> None:
    old = "In the file manager, rename scan-001.pdf to final-report.txt."
    new = "In the file manager, rename report.txt to budget-2024.csv."
    pairs = [("scan-001.pdf", "report.txt"), ("final-report.txt", "budget-2024.csv")]
    assert instruction_values(old, new) == pairs
    assert instruction_values(old, old) == []
    # Another wording: a token more, or too many positions that differ.
    assert instruction_values("Press the button 1 on the calculator.", "Press the button 1 twice.") is None
    assert instruction_values("Set cell F2 to 5.", "Put 5 into G7 now.") is None
    assert instruction_values("", "") is None


@pytest.fixture(scope="module")
def remembered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data directory whose store and memory hold one verified run of galculator.press-digit/0."""
    data = tmp_path_factory.mktemp("recall")
    _, task = find_task("galculator.press-digit/0")
    with TrajectoryStore(data) as store, ExperienceIndex.beside(data) as index:
        report = evaluate([task], lambda t, sb, s: OraclePolicy(t, sb), policy_name="oracle", store=store)
        assert report.episodes[0].passed and report.episodes[0].run_id
        assert admit(store, index, StaticEncoder(), AdmissionConfig(include_oracle=True)).admitted == 1
    return data, report.episodes[0].run_id


def _with_memory(data: Path, tasks: list[TaskSpec]) -> list[tuple[bool, RecallPolicy]]:
    encoder = StaticEncoder()
    made: dict[str, RecallPolicy] = {}

    def policy(task: TaskSpec, sandbox: object, seed: int) -> RecallPolicy:
        made[task.id] = RecallPolicy(NoopPolicy(), sandbox)  # type: ignore[arg-type]
        return made[task.id]

    with TrajectoryStore(data) as store, ExperienceIndex.beside(data) as index:

        def hook(task: TaskSpec) -> ExperienceMemory:
            return ExperienceMemory(index, encoder, app=task.app, task_id=task.id, store=store)

        report = evaluate(tasks, policy, policy_name="recall+noop", store=store, memory=hook)
    return [(e.passed, made[e.task]) for e in report.episodes]


def test_recording_acts_on_the_clicked_name_only(remembered: tuple[Path, str]) -> None:
    data, run_id = remembered
    with TrajectoryStore(data) as store:
        steps = load_recording(store, run_id).steps
    assert acts_on(steps, "1")
    assert not acts_on(steps, "7")
    assert not acts_on(steps, "calculator")  # in the instruction, never typed or clicked


@pytest.mark.x11
@pytest.mark.timeout(240)
def test_another_instance_is_replayed_with_its_value_and_others_are_left_to_the_policy(
    remembered: tuple[Path, str],
) -> None:
    data, run_id = remembered
    other = find_task("galculator.press-digit/1")[1]
    same = find_task("galculator.press-digit/0")[1]
    sqrt = find_task("galculator.sqrt/0")[1]
    assert other.instruction != same.instruction
    results = dict(zip(("other", "same", "sqrt"), _with_memory(data, [other, same, sqrt]), strict=True))
    # Instance 1 ("button 3"): the remembered run of "button 1" replayed with 1 -> 3 passes,
    # where the wrapped noop alone declares done at once.
    passed, policy = results["other"]
    assert policy.chosen == run_id and passed
    # The memory never returns a run of the task being run: instance 0 gets nothing to replay.
    passed, policy = results["same"]
    assert policy.chosen is None and not passed
    # Another wording: looked at (the memory ranked it), not replayed; the noop answered.
    passed, policy = results["sqrt"]
    assert policy.chosen is None and not passed
    assert all(why == "another wording" for _, why in policy.considered)


@pytest.mark.x11
@pytest.mark.timeout(240)
def test_the_bundled_policy_gets_the_memory_through_the_hand_over_in_an_evaluation(
    remembered: tuple[Path, str],
) -> None:
    from cua.service import Service

    data, _ = remembered
    service = Service(data)
    task = find_task("galculator.press-digit/1")[1]
    report = service.evaluate([task], "bundled", memory="on", parallel=1)
    episode = report.episodes[0]
    assert episode.passed and episode.run_id
    outputs = [s.raw_output or "" for s in service.show_run(episode.run_id).steps]
    assert outputs[0].startswith("replay of step"), outputs  # the remembered run, not the policy's own step
    # With memory off the same evaluation is the bundled policy's own.
    off = service.evaluate([task], "bundled", memory="off", parallel=1).episodes[0]
    assert off.run_id
    assert not any((s.raw_output or "").startswith("replay") for s in service.show_run(off.run_id).steps)
