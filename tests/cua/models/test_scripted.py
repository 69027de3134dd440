"""ScriptedPolicy, the shipped test double: replay order, what follows the script, typed actions."""

from __future__ import annotations

import pytest
from PIL import Image

from cua.actions import Click, Done, TypeText
from cua.errors import PolicyError
from cua.policies.scripted import ScriptedPolicy
from cua.policy import Policy, PolicyInput

INPUT = PolicyInput("t", Image.new("RGB", (1280, 800)), (1280, 800))


def test_replays_texts_in_order_then_answers_done() -> None:
    policy = ScriptedPolicy(["first", "second"], format_name="pyautogui")
    assert isinstance(policy, Policy)
    outs = [policy.act(INPUT) for _ in range(4)]
    assert [o.text for o in outs[:2]] == ["first", "second"]
    assert outs[0].actions is None  # raw text: the loop parses it with the format
    assert [o.actions for o in outs[2:]] == [(Done(),), (Done(),)]
    assert outs[2].text == policy_format_done()
    assert len(policy.inputs) == 4
    policy.reset()
    assert policy.act(INPUT).text == "first" and len(policy.inputs) == 1


def policy_format_done() -> str:
    from cua.formats import get_format

    return get_format("pyautogui").render([Done()], (1280, 800), (1280, 800))


def test_repeat_mode_repeats_the_last_output() -> None:
    policy = ScriptedPolicy(["a", "b"], then="repeat")
    assert [policy.act(INPUT).text for _ in range(4)] == ["a", "b", "b", "b"]


def test_typed_actions_are_returned_and_rendered_in_the_format() -> None:
    policy = ScriptedPolicy([Click(640, 400), [TypeText("hi"), Done()]], format_name="ui-tars-1.5")
    first, second = policy.act(INPUT), policy.act(INPUT)
    assert first.actions == (Click(640, 400),)
    assert first.text.startswith("Action: click(start_box=") or "click(start_box=" in first.text
    assert second.actions == (TypeText("hi"), Done())
    assert policy.provenance()["format"] == "ui-tars-1.5"


def test_provenance_tells_scripts_apart() -> None:
    a = ScriptedPolicy(["x"]).provenance()
    assert a == ScriptedPolicy(["x"]).provenance()
    assert a["script_sha256"] != ScriptedPolicy(["y"]).provenance()["script_sha256"]
    assert a["backend"] == "scripted" and a["outputs"] == 1


def test_bad_scripts_are_policy_errors() -> None:
    with pytest.raises(PolicyError, match="text, an action"):
        ScriptedPolicy([42])  # type: ignore[list-item]
    with pytest.raises(PolicyError, match="text, an action"):
        ScriptedPolicy([[]])
    with pytest.raises(PolicyError, match="needs at least one output"):
        ScriptedPolicy([], then="repeat")
    with pytest.raises(PolicyError, match="unknown output format"):
        ScriptedPolicy(["x"], format_name="nope")
