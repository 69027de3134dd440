"""The low-level action vocabulary: JSON, validation, key aliases, pyautogui export."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import Click, Drag, Key, Move, Scroll, TypeText, Wait, errors
from sandbox.actions import ACTION_TYPES, from_json, to_json, to_pyautogui, validate
from sandbox.guest.keys import ALIASES, CANONICAL_KEYS, canonical_key

SCREEN = (1280, 800)
xs = st.integers(0, SCREEN[0] - 1)
ys = st.integers(0, SCREEN[1] - 1)
actions = st.one_of(
    st.builds(Move, xs, ys),
    st.builds(Click, xs, ys, st.sampled_from(["left", "middle", "right"]), st.integers(1, 3)),
    st.builds(Drag, xs, ys, xs, ys),
    st.builds(Scroll, xs, ys, st.integers(-5, 5), st.integers(-5, 5)),
    st.builds(Key, st.lists(st.sampled_from(sorted(CANONICAL_KEYS)), min_size=1, max_size=1).map(tuple)),
    st.builds(TypeText, st.text(st.characters(blacklist_categories=["Cc", "Cs"]))),
    st.builds(Wait, st.floats(0, 60)),
)


@given(actions)
def test_json_round_trip(action: object) -> None:
    data = to_json(action)  # type: ignore[arg-type]
    assert data["type"] in ACTION_TYPES
    assert from_json(data) == action
    import json

    assert from_json(json.dumps(data)) == action


@given(actions)
def test_valid_actions_validate_and_export(action: object) -> None:
    checked = validate(action, SCREEN)  # type: ignore[arg-type]
    code = to_pyautogui(checked)
    assert code.startswith(("pyautogui.", "time.sleep"))


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(), st.none()), max_size=5))
def test_from_json_rejects_garbage_with_invalid_action(data: dict[str, object]) -> None:
    try:
        from_json(data)
    except errors.InvalidAction:
        pass


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "teleport"}, "unknown action type 'teleport'"),
        ({"type": "click", "x": 1}, "click action"),
        ({"type": "click", "x": 1, "y": 2, "z": 3}, "unknown fields"),
        ({"type": "click", "x": "1", "y": 2}, "must be an integer"),
        ({"type": "click", "x": 1, "y": 2, "button": "thumb"}, "button must be one of"),
        ({"type": "key", "keys": 5}, "list of key names"),
        ({"type": "wait", "seconds": 600}, r"\[0, 60\]"),
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_from_json_errors_say_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(errors.InvalidAction, match=message):
        from_json(data)  # type: ignore[arg-type]


def test_key_aliases_map_to_canonical_names() -> None:
    assert validate(Key(("Control", "Shift", "Return")), SCREEN) == Key(("ctrl", "shift", "enter"))
    assert validate(Key(("cmd", "A")), SCREEN) == Key(("super", "a"))
    assert validate(Key(("ESC",)), SCREEN) == Key(("escape",))
    assert all(canonical_key(alias) == target for alias, target in ALIASES.items())
    assert all(target in CANONICAL_KEYS for target in ALIASES.values())


def test_unknown_keys_and_bad_hotkeys_are_refused() -> None:
    with pytest.raises(errors.UnknownKey, match="'hyper'"):
        validate(Key(("hyper",)), SCREEN)
    with pytest.raises(errors.InvalidAction, match="modifiers then one key"):
        validate(Key(("a", "b")), SCREEN)
    with pytest.raises(errors.InvalidAction, match="at least one key"):
        validate(Key(()), SCREEN)


@pytest.mark.parametrize("action", [Move(1280, 0), Click(0, 800), Drag(1, 1, 1300, 1), Scroll(-1, 5)])
def test_off_screen_coordinates_are_refused(action: object) -> None:
    with pytest.raises(errors.OffScreen, match="1280x800"):
        validate(action, SCREEN)  # type: ignore[arg-type]


@given(st.text())
def test_text_validation_allows_exactly_newline_and_tab_as_controls(text: str) -> None:
    bad = [c for c in text if (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) and c not in "\n\t"]
    if bad:
        with pytest.raises(errors.BadText):
            validate(TypeText(text), SCREEN)
    else:
        validate(TypeText(text), SCREEN)


def test_pyautogui_export() -> None:
    assert to_pyautogui(Click(5, 6, "right", 2)) == "pyautogui.click(5, 6, clicks=2, button='right')"
    assert to_pyautogui(Key(("ctrl", "s"))) == "pyautogui.hotkey('ctrl', 's')"
    assert to_pyautogui(Key(("escape",))) == "pyautogui.press('esc')"
    assert to_pyautogui(Scroll(3, 4, dy=2)) == "pyautogui.moveTo(3, 4)\npyautogui.scroll(-2)"
    assert to_pyautogui(TypeText("a'b")) == 'pyautogui.write("a\'b")'
