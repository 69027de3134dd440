"""The judge: its answer parser (never raises), key points and scores, and the three-stage protocol."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cua.critic.judge import (
    ModelJudge,
    parse_judge_answer,
    parse_key_points,
    parse_screenshot_score,
)
from cua.policies.scripted import ScriptedPolicy
from cua.store import RunStatus
from tests.cua.critic.runs import DONE, click, make_run, make_step


def test_verdict_lines() -> None:
    assert parse_judge_answer("The display shows 5.\nVERDICT: success").success is True
    answer = parse_judge_answer("Nothing changed.\n**Verdict:** FAILURE")
    assert answer.success is False and answer.parsed_from == "line"
    assert answer.reasons == ("Nothing changed.",)
    unknown = parse_judge_answer("VERDICT: unknown")
    assert unknown.success is None and unknown.parsed_from == "line"
    assert parse_judge_answer("verdict = pass").success is True


def test_json_answers() -> None:
    text = json.dumps(
        {"key_points": [{"point": "5 shown", "met": True}], "reasons": ["shows 5"], "verdict": "success",
         "score": 0.9}
    )  # fmt: skip
    answer = parse_judge_answer(f"Here is my judgement:\n```json\n{text}\n```")
    assert answer.success is True and answer.score == 0.9 and answer.reasons == ("shows 5",)
    assert answer.key_points == ({"point": "5 shown", "met": True},) and answer.parsed_from == "json"
    assert parse_judge_answer('{"success": false, "reason": "no file"}').success is False
    assert parse_judge_answer('{"success": false, "reason": "no file"}').reasons == ("no file",)
    # an out-of-range score is dropped, not trusted
    assert parse_judge_answer('{"verdict": "failure", "score": 7}').score is None
    # JSON wins over a stray line; the last JSON object with a verdict wins
    assert parse_judge_answer('VERDICT: failure\n{"verdict": "success"}').success is True


def test_malformed_answers_are_unknown_with_a_reason() -> None:
    for text in ("", "I think it worked", "{not json", '{"verdict": "maybe"}', "VERDICT: perhaps", "[1, 2]"):
        answer = parse_judge_answer(text)
        assert answer.success is None and answer.parsed_from == "none", text
        assert answer.reasons and "verdict" in answer.reasons[0], text
    conflicting = parse_judge_answer("VERDICT: success\nVERDICT: failure")
    assert conflicting.success is None and "conflicting" in conflicting.reasons[0]
    assert parse_judge_answer(None).success is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet='{}[]":,VERDICTsucesfailunknow \n`0123456789.-')))
def test_the_parser_never_raises(text: str) -> None:
    answer = parse_judge_answer(text)
    assert answer.success in (True, False, None)
    assert answer.success is not None or answer.reasons or answer.parsed_from != "none"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(JSON_VALUES)
def test_the_parser_never_raises_on_any_json(value: object) -> None:
    answer = parse_judge_answer(json.dumps(value))
    assert answer.success in (True, False, None)


def test_key_points_and_scores() -> None:
    assert parse_key_points("Key points:\n- the display shows 5\n2. nothing else", "x") == [
        "the display shows 5",
        "nothing else",
    ]
    assert parse_key_points("no list here", "Compute  2 + 3") == ["Compute 2 + 3"]
    assert parse_screenshot_score("SCORE: 4\nit shows the result") == 4
    assert parse_screenshot_score("score = 9") is None and parse_screenshot_score("no") is None


def test_the_three_stages_see_the_right_screens() -> None:
    shots = {name: Image.new("RGB", (64, 40), colour) for name, colour in
             (("a", "red"), ("b", "green"), ("c", "blue"), ("final", "white"))}  # fmt: skip
    steps = [make_step(0, "a", click()), make_step(1, "b", click()), make_step(2, "c", DONE)]
    answers = [
        "- the display shows 5",  # stage 1
        "SCORE: 1", "SCORE: 5", "SCORE: 2", "SCORE: 5",  # stage 2: a, b, c, final
        '{"verdict": "failure", "reasons": ["the display shows 0"], "score": 0.1}',  # stage 3
    ]  # fmt: skip
    policy = ScriptedPolicy(answers, then="repeat")
    result = ModelJudge(policy).judge(make_run(RunStatus.SUCCESS, steps=3), steps, shots)
    assert result.key_points == ("the display shows 5",)
    assert result.screenshot_scores == {"a": 1, "b": 5, "c": 2, "final": 5}
    assert result.key_screenshots == ("b", "final")
    assert result.answer.success is False and result.answer.score == 0.1
    outcome = policy.inputs[-1]
    assert outcome.screenshot is shots["final"] and [h.screenshot for h in outcome.history] == [shots["b"]]
    assert "the display shows 5" in outcome.instruction and "click (10, 20)" in outcome.instruction
    assert len(policy.inputs) == 6


def test_a_run_without_screenshots_is_unknown() -> None:
    policy = ScriptedPolicy(["VERDICT: success"], then="repeat")
    result = ModelJudge(policy).judge(make_run(final=None), [make_step(0, "a", DONE)], {})
    assert result.answer.success is None and policy.inputs == []
