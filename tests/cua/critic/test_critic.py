"""The critic's combination order, storing verdicts with the run, and a person overruling them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cua.critic import Critic, ModelJudge, overrule
from cua.errors import PolicyError, UsageError
from cua.policies.scripted import ScriptedPolicy
from cua.policy import PolicyInput, PolicyOutput
from cua.store import Provenance, RunInfo, StepRecord, TrajectoryStore, VerdictSource
from cua.tasks.validators import ValidatorVerdict
from tests.cua.critic.runs import DONE, chain, click, make_run

SHOTS = {name: Image.new("RGB", (32, 20), colour) for name, colour in (("a", "red"), ("b", "blue"))}


def judge(answer: str) -> Critic:
    return Critic(ModelJudge(ScriptedPolicy([answer], then="repeat")))


def test_the_validator_overrides_the_judge_and_heuristics() -> None:
    run, steps = make_run(final="a"), chain(["a"], [DONE])  # heuristics: never acted -> failure
    passed = ValidatorVerdict(1.0, ("display shows 5",))
    policy = ScriptedPolicy(["VERDICT: failure"], then="repeat")
    verdict = Critic(ModelJudge(policy)).judge(run, steps, SHOTS, validator_verdict=passed)
    assert verdict.source == VerdictSource.VALIDATOR and verdict.success is True and verdict.score == 1.0
    assert verdict.reasons[0] == "display shows 5"
    assert any("never acted" in r for r in verdict.reasons)  # heuristics ride along as evidence
    assert verdict.evidence["decided_by"] == "validator"
    assert "no_screen_change" in verdict.evidence["heuristics"]["checks"]
    assert policy.inputs == []  # no model is asked when a validator has spoken
    failed = Critic().judge(run, steps, validator_verdict=ValidatorVerdict(0.5, ("half",)))
    assert failed.success is False and failed.score == 0.5


def test_the_judge_decides_when_it_commits() -> None:
    run, steps = make_run(final="a"), chain(["a"], [DONE])
    verdict = judge('{"verdict": "success", "score": 0.8, "reasons": ["shows 5"]}').judge(run, steps, SHOTS)
    assert verdict.source == VerdictSource.JUDGE and verdict.success is True and verdict.score == 0.8
    assert verdict.reasons[0] == "shows 5" and verdict.evidence["decided_by"] == "judge"
    assert verdict.evidence["judge"]["key_screenshots"] == ["a"]
    assert "heuristics" in verdict.evidence
    line = judge("VERDICT: failure").judge(run, steps, SHOTS)
    assert line.source == VerdictSource.JUDGE and line.success is False and line.score == 0.0


def test_an_unknown_judge_falls_back_to_heuristics() -> None:
    run, steps = make_run(final="a"), chain(["a"], [DONE])
    verdict = judge("hmm, hard to say").judge(run, steps, SHOTS)
    assert verdict.source == VerdictSource.HEURISTIC and verdict.success is False
    assert verdict.reasons[0].startswith("judge: unknown: no verdict")
    assert (
        verdict.evidence["decided_by"] == "heuristic" and verdict.evidence["judge"]["parsed_from"] == "none"
    )
    # heuristics that see nothing conclusive stay unknown
    loop = chain(["a", "b", "a", "b"], [click()] * 4)
    stuck = judge("VERDICT: unknown").judge(make_run(final="a"), loop, SHOTS)
    assert stuck.source == VerdictSource.HEURISTIC and stuck.success is None  # a loop: no call


class Broken:
    name = "broken"
    format_name = "ui-tars-1.5"

    def act(self, inp: PolicyInput) -> PolicyOutput:
        raise PolicyError("the endpoint is down")

    def provenance(self) -> dict[str, Any]:
        return {"backend": "broken"}


def test_a_failing_judge_backend_falls_back_to_heuristics() -> None:
    run, steps = make_run(final="b"), chain(["a"], [click()])
    verdict = Critic(ModelJudge(Broken())).judge(run, steps, SHOTS)
    assert verdict.source == VerdictSource.HEURISTIC and verdict.success is True
    assert "the endpoint is down" in verdict.reasons[0]


def test_verdicts_are_stored_and_a_person_overrules(tmp_path: Path) -> None:
    with TrajectoryStore(tmp_path, min_free_bytes=0) as store:
        run_id = store.start_run(RunInfo("type hello", "mousepad", Provenance(model="test")))
        store.add_step(run_id, StepRecord(action={"type": "type", "text": "hello"}), SHOTS["a"])
        store.add_step(run_id, StepRecord(action=DONE), SHOTS["b"])
        store.finish_run(run_id, "success", "typed it", final_screenshot=SHOTS["b"])
        verdict = judge("VERDICT: success").judge_stored(store, run_id)
        current = store.get_run(run_id).verdict
        assert current is not None and current.source == VerdictSource.JUDGE and current.success is True
        assert verdict.evidence["judge"]["key_screenshots"] == [s.screenshot for s in store.steps(run_id)]
        person = overrule(store, run_id, False, "the text is 'helo'")
        assert person.source == VerdictSource.PERSON and person.success is False
        assert person.evidence["overrules"]["source"] == "judge"
        current = store.get_run(run_id).verdict
        assert current is not None and current.id == person.id and current.reasons == ("the text is 'helo'",)
        assert [v.source for v in store.verdicts(run_id)] == [VerdictSource.JUDGE, VerdictSource.PERSON]
        with pytest.raises(UsageError):
            overrule(store, run_id, True, "  ")
        Critic().judge_stored(store, run_id, save=False)
        assert len(store.verdicts(run_id)) == 2
