"""Oracles run as data on a sandbox; the proof protocol, end to end on a FakeSandbox."""

from __future__ import annotations

from typing import Any

import pytest

from cua.tasks import OracleFailed, TaskSpecError, parse_document, prove, run_oracle, start, validate
from cua.tasks.errors import Where
from cua.tasks.oracle import OracleRunner, count_actions, parse_steps
from sandbox.actions import Click, Key, TypeText
from tests.cua.tasks.fakes import fake_sandbox

CONFIRM: dict[str, Any] = {
    "id": "fake.confirm",
    "app": "fake",
    "difficulty": 1,
    "instruction": "Confirm the dialog.",
    "setup": [{"write": {"path": "seed.txt", "text": "x"}}],
    "oracle": [
        {"click": {"role": "push button", "name": "OK"}, "id": "ok", "until": {"title": "^Finished$"}},
    ],
    "validator": {"all": [{"window_title": {"equals": "Finished"}}, {"file_exists": "seed.txt"}]},
    "near_misses": [{"name": "not-clicked", "before": "ok"}],
}


def test_oracle_resolves_targets_on_the_live_screen_and_waits_on_conditions() -> None:
    (family,) = parse_document(CONFIRM)
    task = family.instance(0)
    sb = fake_sandbox()
    start(sb, task)
    assert not validate(sb, task).passed
    run = run_oracle(sb, task, reset=False)
    assert run.actions == 1 and run.steps == 1 and "click push button 'OK'" in run.log[0]
    assert sb.actions == [Click(640, 400)]  # the centre of the OK button's box (560, 380, 160, 40)
    assert validate(sb, task).passed


def test_prove_runs_the_whole_protocol() -> None:
    (family,) = parse_document(CONFIRM)
    proof = prove(fake_sandbox(), family)
    assert proof.ok, proof.report()
    assert proof.noop is not None and not proof.noop.passed
    assert set(proof.near_misses) == {"not-clicked"} and not proof.near_misses["not-clicked"].passed
    assert "PROVEN fake.confirm/0" in proof.report()


def test_a_validator_that_accepts_anything_is_caught() -> None:
    lax = {**CONFIRM, "validator": {"file_exists": "seed.txt"}}
    (family,) = parse_document(lax)
    proof = prove(fake_sandbox(), family)
    assert not proof.ok
    assert "doing nothing passes the validator" in proof.problems()
    assert any("near miss 'not-clicked' passes" in p for p in proof.problems())


def test_a_missing_target_fails_with_what_the_screen_shows() -> None:
    steps = parse_steps([{"click": {"name": "Cancel"}, "timeout_s": 0.2}], Where("t"))
    sb = fake_sandbox()
    sb.reset("fake")
    with pytest.raises(OracleFailed, match=r"step 1 \(click node labelled 'Cancel'\).*push button 'OK'"):
        OracleRunner(sb, poll_s=0.01).run(steps)
    (family,) = parse_document(
        {**CONFIRM, "oracle": [{"click": "Cancel", "timeout_s": 0.2}], "near_misses": []}
    )
    proof = prove(fake_sandbox(), family)
    assert not proof.ok and proof.error is not None and "did not appear" in proof.error


def test_waits_are_bounded_by_their_timeout() -> None:
    steps = parse_steps([{"wait_for": {"file_exists": "never.txt"}, "timeout_s": 0.3}], Where("t"))
    sb = fake_sandbox()
    sb.reset("fake")
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    runner = OracleRunner(sb, clock=lambda: now[0], sleep=sleep, poll_s=0.1)
    with pytest.raises(OracleFailed, match=r"waited 0\.3 s for: never\.txt exists"):
        runner.run(steps)
    assert now[0] == pytest.approx(0.3, abs=0.11)


def test_waits_scale_with_a_slow_sandbox() -> None:
    """A sandbox 4x slower than the host (QEMU under TCG) gets 4x the step's timeout, not more."""
    steps = parse_steps(
        [{"wait_for": {"file_exists": "late.txt"}, "timeout_s": 1.0},
         {"wait_for": {"file_exists": "never.txt"}, "timeout_s": 1.0}],
        Where("t"),
    )  # fmt: skip
    sb = fake_sandbox()
    sb.reset("fake")
    sb._slowdown = 4.0
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s
        if now[0] >= 3.0:  # written 3 s in: late for the host's 1 s, in time for 4 s
            sb.write_file("late.txt", b"x")

    runner = OracleRunner(sb, clock=lambda: now[0], sleep=sleep, poll_s=0.1, settle_s=0.2)
    assert runner.settle_s == pytest.approx(0.8)
    with pytest.raises(OracleFailed, match=r"step 2 .*waited 4 s for: never\.txt exists"):
        runner.run(steps)
    assert now[0] == pytest.approx(3.0 + 4.0, abs=0.25)


def test_keys_text_and_repeats_become_sandbox_actions() -> None:
    steps = parse_steps(
        [{"key": "ctrl+s"}, {"key": ["shift", "end"]}, {"key": "down", "repeat": 3}, {"type": "hi\n"}],
        Where("t"),
    )
    assert count_actions(steps) == 6
    sb = fake_sandbox()
    sb.reset("fake")
    OracleRunner(sb).run(steps)
    assert sb.actions == [Key(("ctrl", "s")), Key(("shift", "end")), *[Key(("down",))] * 3, TypeText("hi\n")]
    assert steps[0].to_json() == {"key": "ctrl+s"}


def test_before_step_checkpoints_see_each_step() -> None:
    steps = parse_steps([{"type": "a", "id": "one"}, {"type": "b"}], Where("t"))
    sb = fake_sandbox()
    sb.reset("fake")
    seen: list[str | None] = []
    OracleRunner(sb).run(steps, before_step=lambda step: seen.append(step.id))
    assert seen == ["one", None]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "non-empty list"),
        ([{"type": "a", "id": "x"}, {"type": "b", "id": "x"}], "unique step ids"),
        ([{"click": {"name": "OK"}, "count": 4}], "1, 2 or 3"),
        ([{"type": "a\x07"}], "typeable text"),
        ([{"wait_for": {"title": "x"}, "until": {"title": "y"}}], "no 'until' on a wait_for"),
        ([{"drag": {"from": "a"}}], "'from' and 'to'"),
        ([{"key": "ctrl+s", "timeout_s": 0}], "(0, 300]"),
    ],
)
def test_step_errors_name_the_field(data: Any, message: str) -> None:
    with pytest.raises(TaskSpecError) as info:
        parse_steps(data, Where("t.yaml", "oracle"))
    assert message in str(info.value), info.value
