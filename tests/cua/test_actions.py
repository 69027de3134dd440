"""The agent's typed actions: validation, JSON, pyautogui export, the sandbox mapping and prompt text."""

from __future__ import annotations

import ast
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cua.actions as actions_module
from cua.actions import (
    ACTION_CLASSES,
    ACTION_TYPES,
    Action,
    ActionError,
    ActionJSONError,
    CallUser,
    Click,
    Done,
    Drag,
    Fail,
    Hotkey,
    Key,
    Move,
    Scroll,
    TypeText,
    Wait,
    describe_actions,
    from_json,
    pointer_after,
    signature,
    to_json,
    to_pyautogui,
    to_sandbox,
)
from sandbox import actions as sb
from sandbox.guest.keys import ALIASES, CANONICAL_KEYS, MODIFIERS

BIG_SCREEN = (100_000, 100_000)
coords = st.integers(0, BIG_SCREEN[0] - 1)
key_names = st.sampled_from(sorted(CANONICAL_KEYS))
modifiers = st.lists(st.sampled_from(sorted(MODIFIERS)), min_size=1, max_size=3, unique=True)
texts = st.text(
    st.characters(blacklist_categories=["Cc", "Cs"]) | st.sampled_from("\n\t"), min_size=1, max_size=40
)
free_text = st.text(max_size=40)

actions: st.SearchStrategy[Action] = st.one_of(
    st.builds(Click, coords, coords, st.sampled_from(["left", "middle", "right"]), st.integers(1, 3)),
    st.builds(Move, coords, coords),
    st.builds(Drag, coords, coords, coords, coords),
    st.builds(Scroll, coords, coords, st.sampled_from(["up", "down", "left", "right"]), st.integers(1, 50)),
    st.builds(TypeText, texts),
    st.builds(Key, key_names),
    st.builds(lambda m, k: Hotkey((*m, k)), modifiers, key_names),
    st.builds(Wait, st.floats(0, 60) | st.integers(0, 60)),
    st.builds(Done, st.none() | free_text),
    st.builds(Fail, free_text),
    st.builds(CallUser, free_text),
)


# --- JSON -----------------------------------------------------------------------------------------


@given(actions)
def test_json_round_trip(action: Action) -> None:
    data = to_json(action)
    assert data["type"] == action.type
    assert from_json(data) == action
    assert from_json(json.dumps(data)) == action


@given(
    st.one_of(
        st.text(max_size=60),
        st.dictionaries(
            st.sampled_from(["type", "x", "y", "keys", "key", "text", "seconds", "answer", "zzz"]),
            st.one_of(
                st.integers(),
                st.floats(),
                st.text(max_size=10),
                st.none(),
                st.booleans(),
                st.lists(st.text(max_size=5), max_size=3),
                st.sampled_from(sorted(ACTION_TYPES)),
            ),
            max_size=5,
        ),
    )
)
def test_from_json_raises_only_action_errors(data: object) -> None:
    try:
        action = from_json(data)  # type: ignore[arg-type]
    except ActionError:
        return
    assert type(action) in ACTION_CLASSES


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        ("not json", ActionJSONError, "not valid JSON"),
        ("[1, 2]", ActionJSONError, "JSON object"),
        ({"type": "teleport"}, ActionJSONError, "unknown action type"),
        ({"type": "click", "x": 1, "y": 2, "z": 3}, ActionJSONError, "unknown fields ['z']"),
        ({"type": "click", "x": 1}, ActionJSONError, "lacks fields ['y']"),
        ({"type": "click", "x": -1, "y": 2}, ActionError, "non-negative integer"),
        ({"type": "hotkey", "keys": "ctrl"}, ActionError, "list of key names"),
        ({"type": "wait", "seconds": "2"}, ActionError, "from 0 to 60"),
    ],
)
def test_from_json_errors_name_the_problem(data: object, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        from_json(data)  # type: ignore[arg-type]


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Click(-1, 0),
        lambda: Click(1.5, 0),  # type: ignore[arg-type]
        lambda: Click(True, 0),  # type: ignore[arg-type]
        lambda: Click(1, 2, "top"),  # type: ignore[arg-type]
        lambda: Click(1, 2, count=4),
        lambda: Click(1, 2, count=0),
        lambda: Drag(1, 2, 3, -4),
        lambda: Scroll(1, 2, "diagonal"),  # type: ignore[arg-type]
        lambda: Scroll(1, 2, "down", 0),
        lambda: Scroll(1, 2, "down", 51),
        lambda: TypeText(""),
        lambda: TypeText("bell\x07"),
        lambda: TypeText(5),  # type: ignore[arg-type]
        lambda: Key("no-such-key"),
        lambda: Key(""),
        lambda: Hotkey(("ctrl",)),
        lambda: Hotkey(("a", "b")),
        lambda: Hotkey("ctrl c"),  # type: ignore[arg-type]
        lambda: Wait(61),
        lambda: Wait(-1),
        lambda: Wait(math.nan),
        lambda: Wait(math.inf),
        lambda: Wait(10**400),
        lambda: Done(5),  # type: ignore[arg-type]
        lambda: Fail(None),  # type: ignore[arg-type]
        lambda: CallUser(b"x"),  # type: ignore[arg-type]
    ],
)
def test_invalid_fields_raise_action_error(make: object) -> None:
    with pytest.raises(ActionError):
        make()  # type: ignore[operator]


def test_key_names_are_canonicalised_through_the_sandbox_aliases() -> None:
    assert Key("Return") == Key("enter") == Key("ENTER")
    assert Key("esc").key == "escape"
    assert Hotkey(["Control", "C"]) == Hotkey(("ctrl", "c"))  # type: ignore[arg-type]
    assert Hotkey(("cmd", "shift", "t")).keys == ("super", "shift", "t")
    for alias, canonical in ALIASES.items():
        assert Key(alias).key == canonical


# --- sandbox mapping ------------------------------------------------------------------------------


@given(actions)
def test_to_sandbox_yields_valid_sandbox_actions(action: Action) -> None:
    mapped = to_sandbox(action)
    assert (mapped == []) == isinstance(action, Done | Fail | CallUser)
    for low in mapped:
        assert sb.validate(low, BIG_SCREEN) == low  # canonical already: validation changes nothing


def test_to_sandbox_mapping() -> None:
    assert to_sandbox(Click(3, 4, "right", 2)) == [sb.Click(3, 4, "right", 2)]
    assert to_sandbox(Drag(1, 2, 3, 4)) == [sb.Drag(1, 2, 3, 4)]
    assert to_sandbox(Scroll(5, 6, "down", 3)) == [sb.Scroll(5, 6, dx=0, dy=3)]
    assert to_sandbox(Scroll(5, 6, "up", 3)) == [sb.Scroll(5, 6, dx=0, dy=-3)]
    assert to_sandbox(Scroll(5, 6, "right", 2)) == [sb.Scroll(5, 6, dx=2, dy=0)]
    assert to_sandbox(Scroll(5, 6, "left", 2)) == [sb.Scroll(5, 6, dx=-2, dy=0)]
    assert to_sandbox(Key("Return")) == [sb.Key(("enter",))]
    assert to_sandbox(Hotkey(("ctrl", "c"))) == [sb.Key(("ctrl", "c"))]
    assert to_sandbox(TypeText("hé\n")) == [sb.TypeText("hé\n")]
    assert to_sandbox(Wait(2)) == [sb.Wait(2)]
    assert to_sandbox(Done("x")) == to_sandbox(Fail("y")) == to_sandbox(CallUser("z")) == []


def test_pointer_after() -> None:
    assert pointer_after(Click(1, 2), None) == (1, 2)
    assert pointer_after(Scroll(3, 4, "down"), (0, 0)) == (3, 4)
    assert pointer_after(Drag(1, 2, 3, 4), None) == (3, 4)
    assert pointer_after(TypeText("a"), (9, 9)) == (9, 9)
    assert pointer_after(Key("a"), None) is None


# --- pyautogui export -----------------------------------------------------------------------------


@given(actions)
def test_to_pyautogui_is_valid_python(action: Action) -> None:
    code = to_pyautogui(action)
    tree = ast.parse(code)
    assert tree.body, code


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (Click(10, 20), "pyautogui.click(10, 20)"),
        (Click(10, 20, count=2), "pyautogui.doubleClick(10, 20)"),
        (Click(10, 20, count=3), "pyautogui.tripleClick(10, 20)"),
        (Click(10, 20, "right"), "pyautogui.rightClick(10, 20)"),
        (Click(10, 20, "middle"), "pyautogui.middleClick(10, 20)"),
        (Click(10, 20, "right", 2), "pyautogui.click(10, 20, clicks=2, button='right')"),
        (Move(1, 2), "pyautogui.moveTo(1, 2)"),
        (Drag(1, 2, 3, 4), "pyautogui.moveTo(1, 2)\npyautogui.dragTo(3, 4, button='left')"),
        (Scroll(5, 6, "down", 3), "pyautogui.scroll(-3, x=5, y=6)"),
        (Scroll(5, 6, "left", 2), "pyautogui.hscroll(-2, x=5, y=6)"),
        (TypeText("it's\n"), 'pyautogui.write("it\'s\\n")'),
        (Key("escape"), "pyautogui.press('esc')"),
        (Hotkey(("super", "d")), "pyautogui.hotkey('winleft', 'd')"),
        (Wait(1.5), "time.sleep(1.5)"),
        (Done(), "DONE"),
        (Done("42"), '# answer: "42"\nDONE'),
        (Fail(), "FAIL"),
        (Fail("no file"), '# reason: "no file"\nFAIL'),
        (CallUser("which one?"), '# call_user: "which one?"\nWAIT'),
    ],
)
def test_to_pyautogui(action: Action, code: str) -> None:
    assert to_pyautogui(action) == code


def test_to_pyautogui_comment_stays_on_one_line() -> None:
    code = to_pyautogui(Done("two\nlines"))
    assert code.splitlines()[-1] == "DONE"
    assert len(code.splitlines()) == 2


# --- prompt text ----------------------------------------------------------------------------------


def test_describe_actions_lists_every_action_with_its_docstring() -> None:
    text = describe_actions()
    for cls in ACTION_CLASSES:
        assert signature(cls) in text
        assert (cls.__doc__ or "").strip().splitlines()[0] in text
    assert signature(Click) == "click(x, y, button='left', count=1)"
    assert signature(Scroll) == "scroll(x, y, direction, amount=5)"
    assert describe_actions((Key,)).startswith("key(key)\n    Press and release one key")


def test_public_names() -> None:
    assert set(actions_module.__all__) == {
        "ACTION_CLASSES", "ACTION_TYPES", "BUTTONS", "CONTROL_ACTIONS", "DIRECTIONS", "MAX_CLICKS",
        "MAX_SCROLL", "MAX_WAIT", "Action", "ActionError", "ActionJSONError", "Button", "CallUser",
        "Click", "Direction", "Done", "Drag", "Fail", "Hotkey", "Key", "Move", "PointMap", "Scroll",
        "TypeText", "Wait", "describe_actions", "from_json", "pointer_after", "signature", "to_json",
        "to_pyautogui", "to_sandbox", "SEQUENCE", "describe", "recorded_actions", "recorded_items",
        "recorded_json",
    }  # fmt: skip
    for name in actions_module.__all__:
        assert hasattr(actions_module, name)


def test_a_recorded_step_reads_back_as_the_actions_that_wrote_it() -> None:
    one, two = Click(1, 2), TypeText("hi\n")
    assert actions_module.recorded_json([]) is None
    assert actions_module.recorded_json([one]) == to_json(one)
    sequence = actions_module.recorded_json([one, two])
    assert sequence == {"type": actions_module.SEQUENCE, "actions": [to_json(one), to_json(two)]}
    assert actions_module.recorded_actions(sequence) == [one, two]
    assert actions_module.recorded_actions(to_json(one)) == [one]
    assert actions_module.recorded_actions(None) == []
    # The raw reader skips what is not an object and never validates.
    odd = {
        "type": "sequence",
        "actions": [{"type": "click", "x": -1}, 3, {"type": "sequence", "actions": []}],
    }
    assert actions_module.recorded_items(odd) == [{"type": "click", "x": -1}]
    assert actions_module.recorded_items({"type": "sequence", "actions": "no"}) == []
    with pytest.raises(ActionError):
        actions_module.recorded_actions(odd)


@given(st.lists(actions, max_size=4))
def test_recorded_json_round_trips(listed: list[Action]) -> None:
    assert actions_module.recorded_actions(actions_module.recorded_json(listed)) == listed


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (Click(3, 4), "click at (3, 4)"),
        (Click(3, 4, "right", 2), "right double-click at (3, 4)"),
        (Drag(1, 2, 30, 40), "drag to (30, 40)"),
        (Scroll(5, 6, "down", 3), "scroll down 3"),
        (TypeText('say "hi"\n'), 'type "say \\"hi\\"\\n"'),
        (Key("enter"), "key enter"),
        (Hotkey(("ctrl", "s")), "hotkey ctrl+s"),
        (Done("42"), "done"),
        (Fail("no file"), "fail (no file)"),
        (Move(7, 8), "move(x=7, y=8)"),
        (Wait(2.0), "wait(seconds=2.0)"),
        (CallUser("which?"), "call_user(question=which?)"),
    ],
)
def test_describe_reads_each_action_in_words(action: Action, text: str) -> None:
    assert actions_module.describe(action) == text


def test_describe_can_leave_the_point_to_a_named_target() -> None:
    assert actions_module.describe(Click(3, 4, count=3), point=False) == "triple-click"
