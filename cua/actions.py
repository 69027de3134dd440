"""The agent's typed actions, each defined once, with their JSON, pyautogui and sandbox forms.

Model output formats (``cua.formats``) parse into these classes; the agent loop executes them
through :func:`to_sandbox`, which maps each onto the sandbox's low-level vocabulary
(``sandbox.actions``). ``Done``, ``Fail`` and ``CallUser`` end or pause an episode and map onto
no sandbox action: the agent loop handles them.

Each action class's docstring is written for a model to read: :func:`describe_actions` renders the
signatures and docstrings as the action-space part of a prompt (the BrowserGym idea). Nothing here
executes anything; pyautogui code (:func:`to_pyautogui`) is an export format, and
:func:`describe` the one short human reading of an action (logs, remembered steps). A recorded
step's JSON holds one action or a ``sequence`` of them: :func:`recorded_json` writes it,
:func:`recorded_actions` (typed) and :func:`recorded_items` (raw JSON) read it back.

Constructors validate their fields and raise :class:`ActionError`, so an action that exists is
well-formed: coordinates are non-negative integer screen pixels, key names are canonical
(``sandbox.guest.keys``; aliases such as ``Return`` or ``ctrl`` are accepted and normalised), and
text holds no control characters the sandbox would refuse.
"""

from __future__ import annotations

import inspect
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar, Literal

from cua.errors import CuaError
from sandbox import actions as sb
from sandbox.errors import BadText
from sandbox.guest.keys import MODIFIERS, PYAUTOGUI_NAMES, canonical_key

Button = Literal["left", "middle", "right"]
Direction = Literal["up", "down", "left", "right"]
BUTTONS: tuple[Button, ...] = ("left", "middle", "right")
DIRECTIONS: tuple[Direction, ...] = ("up", "down", "left", "right")
#: Most clicks one Click may make (a triple click selects a line).
MAX_CLICKS = 3
#: Most wheel notches one Scroll may turn; parsers clamp larger requests to this.
MAX_SCROLL = 50
#: Longest Wait, in seconds (the sandbox's own limit).
MAX_WAIT = 60.0


class ActionError(CuaError):
    """An action field has an invalid value; the message names the field and what is allowed."""


class ActionJSONError(ActionError):
    """Data that does not describe an action: not JSON, not an object, unknown type or fields."""


def _check_point(kind: str, **coords: object) -> None:
    for name, value in coords.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ActionError(f"{kind}.{name} must be a non-negative integer (screen pixels), got {value!r}")


def _check_str(kind: str, name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ActionError(f"{kind}.{name} must be a string, got {type(value).__name__}")


def _canonical(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise ActionError(f"{kind}: a key name must be a string, got {type(name).__name__}")
    canon = canonical_key(name)
    if canon is None:
        raise ActionError(
            f"{kind}: unknown key name {name!r}; use names like 'enter', 'escape', 'tab', 'ctrl', "
            "'shift', 'alt', 'super', 'f5', 'pageup', 'a' or '1'"
        )
    return canon


@dataclass(frozen=True)
class Click:
    """Click a mouse button at screen pixel (x, y).

    button is 'left', 'middle' or 'right'. count=2 double-clicks (open an item, select a word);
    count=3 triple-clicks (select a whole line or paragraph).
    Example: click(412, 230) or click(412, 230, button='right')
    """

    x: int
    y: int
    button: Button = "left"
    count: int = 1
    type: ClassVar[str] = "click"

    def __post_init__(self) -> None:
        _check_point(self.type, x=self.x, y=self.y)
        if self.button not in BUTTONS:
            raise ActionError(f"click.button must be one of {list(BUTTONS)}, got {self.button!r}")
        if (
            not isinstance(self.count, int)
            or isinstance(self.count, bool)
            or not 1 <= self.count <= MAX_CLICKS
        ):
            raise ActionError(f"click.count must be 1, 2 or 3, got {self.count!r}")


@dataclass(frozen=True)
class Move:
    """Move the mouse pointer to screen pixel (x, y) without clicking, e.g. to reveal a tooltip or menu.

    Example: move(600, 15)
    """

    x: int
    y: int
    type: ClassVar[str] = "move"

    def __post_init__(self) -> None:
        _check_point(self.type, x=self.x, y=self.y)


@dataclass(frozen=True)
class Drag:
    """Press the left button at (x, y), move to (to_x, to_y) and release there.

    Use it to move items, resize windows, move sliders or select a range of text or cells.
    Example: drag(100, 200, 400, 200)
    """

    x: int
    y: int
    to_x: int
    to_y: int
    type: ClassVar[str] = "drag"

    def __post_init__(self) -> None:
        _check_point(self.type, x=self.x, y=self.y, to_x=self.to_x, to_y=self.to_y)


@dataclass(frozen=True)
class Scroll:
    """Turn the mouse wheel at (x, y): direction 'up', 'down', 'left' or 'right', by amount notches.

    The content under the pointer scrolls, so point at the pane you want to scroll.
    Example: scroll(640, 400, 'down', 5)
    """

    x: int
    y: int
    direction: Direction
    amount: int = 5
    type: ClassVar[str] = "scroll"

    def __post_init__(self) -> None:
        _check_point(self.type, x=self.x, y=self.y)
        if self.direction not in DIRECTIONS:
            raise ActionError(f"scroll.direction must be one of {list(DIRECTIONS)}, got {self.direction!r}")
        if (
            not isinstance(self.amount, int)
            or isinstance(self.amount, bool)
            or not 1 <= self.amount <= MAX_SCROLL
        ):
            raise ActionError(f"scroll.amount must be an integer from 1 to {MAX_SCROLL}, got {self.amount!r}")


@dataclass(frozen=True)
class TypeText:
    r"""Type text at the keyboard focus; a newline presses Enter and a tab presses Tab.

    Any Unicode text works. Click the field first if it does not have the focus.
    Example: type('hello world\n')
    """

    text: str
    type: ClassVar[str] = "type"

    def __post_init__(self) -> None:
        _check_str(self.type, "text", self.text)
        if not self.text:
            raise ActionError("type.text is empty; there is nothing to type")
        try:
            sb.check_text(self.text)
        except BadText as exc:
            raise ActionError(f"type.text: {exc}") from exc


@dataclass(frozen=True)
class Key:
    """Press and release one key, such as 'enter', 'escape', 'tab', 'backspace', 'down' or 'f5'.

    Example: key('enter')
    """

    key: str
    type: ClassVar[str] = "key"

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _canonical(self.type, self.key))


@dataclass(frozen=True)
class Hotkey:
    """Press a key combination: hold the modifier keys, tap the last key, release all.

    Modifiers are 'ctrl', 'shift', 'alt' and 'super'.
    Example: hotkey(('ctrl', 'c')) copies; hotkey(('ctrl', 'shift', 't')) reopens a closed tab.
    """

    keys: tuple[str, ...]
    type: ClassVar[str] = "hotkey"

    def __post_init__(self) -> None:
        keys: object = self.keys
        if isinstance(keys, list):
            keys = tuple(keys)
        if not isinstance(keys, tuple):
            raise ActionError(f"hotkey.keys must be a list of key names, got {type(keys).__name__}")
        canon = tuple(_canonical(self.type, k) for k in keys)
        if len(canon) < 2:
            raise ActionError(f"a hotkey needs at least two keys (use key() for one), got {list(canon)}")
        if not all(k in MODIFIERS for k in canon[:-1]):
            raise ActionError(
                f"a hotkey is modifier keys ({', '.join(sorted(MODIFIERS))}) then one key, got {list(canon)}"
            )
        object.__setattr__(self, "keys", canon)


@dataclass(frozen=True)
class Wait:
    """Do nothing for a few seconds (at most 60), then look at the screen again.

    Use it while an application starts, a page loads or a file saves.
    Example: wait(2)
    """

    seconds: float = 1.0
    type: ClassVar[str] = "wait"

    def __post_init__(self) -> None:
        s = self.seconds
        # The range check also rejects NaN and infinities (every comparison with NaN is false).
        if not isinstance(s, int | float) or isinstance(s, bool) or not 0 <= s <= MAX_WAIT:
            raise ActionError(f"wait.seconds must be a number from 0 to {MAX_WAIT:g}, got {s!r}")


@dataclass(frozen=True)
class Done:
    """Declare the task complete; if the task asked a question, give the answer.

    Example: done() or done(answer='42')
    """

    answer: str | None = None
    type: ClassVar[str] = "done"

    def __post_init__(self) -> None:
        if self.answer is not None:
            _check_str(self.type, "answer", self.answer)


@dataclass(frozen=True)
class Fail:
    """Give up: the task cannot be done here; say why.

    Example: fail(reason='the file does not exist')
    """

    reason: str = ""
    type: ClassVar[str] = "fail"

    def __post_init__(self) -> None:
        _check_str(self.type, "reason", self.reason)


@dataclass(frozen=True)
class CallUser:
    """Stop and ask the user a question, when only the user can help (a password, a choice to make).

    Example: call_user(question='Which of the two invoices should I delete?')
    """

    question: str = ""
    type: ClassVar[str] = "call_user"

    def __post_init__(self) -> None:
        _check_str(self.type, "question", self.question)


Action = Click | Move | Drag | Scroll | TypeText | Key | Hotkey | Wait | Done | Fail | CallUser
#: Every action class, in the order prompts list them.
ACTION_CLASSES: tuple[type[Action], ...] = (
    Click, Move, Drag, Scroll, TypeText, Key, Hotkey, Wait, Done, Fail, CallUser,
)  # fmt: skip
#: The action classes by their JSON ``type``.
ACTION_TYPES: dict[str, type[Action]] = {cls.type: cls for cls in ACTION_CLASSES}
#: Actions that end (Done, Fail) or pause (CallUser) the episode; they touch no sandbox.
CONTROL_ACTIONS: tuple[type[Action], ...] = (Done, Fail, CallUser)


def signature(cls: type[Action]) -> str:
    """Return the prompt signature of an action class, e.g. ``click(x, y, button='left', count=1)``."""
    params = []
    for f in fields(cls):
        params.append(f.name if f.default is MISSING else f"{f.name}={f.default!r}")
    return f"{cls.type}({', '.join(params)})"


def describe_actions(classes: tuple[type[Action], ...] = ACTION_CLASSES) -> str:
    """Render the action space for a prompt: each signature, then its docstring indented below it."""
    blocks = []
    for cls in classes:
        doc = inspect.cleandoc(cls.__doc__ or "")
        blocks.append(f"{signature(cls)}\n{textwrap.indent(doc, '    ')}")
    return "\n".join(blocks)


def to_json(action: Action) -> dict[str, Any]:
    """Return the JSON-ready dict of ``action``: ``{"type": ..., field: value, ...}``."""
    data = asdict(action)
    if isinstance(action, Hotkey):
        data["keys"] = list(action.keys)
    return {"type": action.type, **data}


def from_json(data: dict[str, Any] | str) -> Action:
    """Build an action from its JSON form (a dict or a JSON string).

    Raises ActionJSONError for data that is not an action object and ActionError for a field with
    an invalid value; nothing else.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ActionJSONError(f"an action must be a JSON object; this is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ActionJSONError(f"an action must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    cls = ACTION_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ActionJSONError(f"unknown action type {kind!r}; expected one of {sorted(ACTION_TYPES)}")
    names = {f.name for f in fields(cls)}
    extra = {str(k) for k in data} - names - {"type"}
    if extra:
        raise ActionJSONError(f"{kind} action has unknown fields {sorted(extra)}; allowed: {sorted(names)}")
    missing = {f.name for f in fields(cls) if f.default is MISSING} - set(data)
    if missing:
        raise ActionJSONError(f"{kind} action lacks fields {sorted(missing)}")
    kwargs = {k: v for k, v in data.items() if k != "type"}
    return cls(**kwargs)


def to_sandbox(action: Action) -> list[sb.SandboxAction]:
    """Map ``action`` onto the sandbox's low-level actions; empty for Done, Fail and CallUser."""
    match action:
        case Click(x, y, button, count):
            return [sb.Click(x, y, button, count)]
        case Move(x, y):
            return [sb.Move(x, y)]
        case Drag(x, y, to_x, to_y):
            return [sb.Drag(x, y, to_x, to_y)]
        case Scroll(x, y, direction, amount):
            dx = {"left": -amount, "right": amount}.get(direction, 0)
            dy = {"up": -amount, "down": amount}.get(direction, 0)
            return [sb.Scroll(x, y, dx=dx, dy=dy)]
        case TypeText(text):
            return [sb.TypeText(text)]
        case Key(key):
            return [sb.Key((key,))]
        case Hotkey(keys):
            return [sb.Key(keys)]
        case Wait(seconds):
            return [sb.Wait(seconds)]
        case Done() | Fail() | CallUser():
            return []
    raise ActionError(f"not an agent action: {action!r}")


def pointer_after(action: Action, pointer: tuple[int, int] | None) -> tuple[int, int] | None:
    """Return where the mouse pointer is after ``action``, given where it was (None: unknown)."""
    match action:
        case Click(x, y) | Move(x, y) | Scroll(x, y):
            return (x, y)
        case Drag(_, _, to_x, to_y):
            return (to_x, to_y)
    return pointer


Number = int | float
#: Maps a screen point to the two numbers written in generated code.
PointMap = Callable[[int, int], tuple[Number, Number]]


def _screen_point(x: int, y: int) -> tuple[Number, Number]:
    return (x, y)


def to_pyautogui(action: Action, *, point: PointMap = _screen_point) -> str:
    """Render ``action`` as pyautogui code: an export format, never executed here.

    ``point`` maps each screen point to the numbers written (default: the screen pixels; the
    pyautogui output format passes a relative 0–1 mapping). Control actions follow OSWorld's
    special codes, each preceded by a comment that carries its text: Done renders as ``DONE``,
    Fail as ``FAIL`` and CallUser as ``WAIT`` (OSWorld has no way to ask the user; the agent
    waits for the next observation instead).
    """

    def at(x: int, y: int) -> str:
        px, py = point(x, y)
        return f"{px!r}, {py!r}"

    match action:
        case Click(x, y, button, count):
            named = {
                ("left", 1): "click", ("left", 2): "doubleClick", ("left", 3): "tripleClick",
                ("right", 1): "rightClick", ("middle", 1): "middleClick",
            }  # fmt: skip
            name = named.get((button, count))
            if name is not None:
                return f"pyautogui.{name}({at(x, y)})"
            return f"pyautogui.click({at(x, y)}, clicks={count}, button={button!r})"
        case Move(x, y):
            return f"pyautogui.moveTo({at(x, y)})"
        case Drag(x, y, to_x, to_y):
            return f"pyautogui.moveTo({at(x, y)})\npyautogui.dragTo({at(to_x, to_y)}, button='left')"
        case Scroll(x, y, direction, amount):
            px, py = point(x, y)
            if direction in ("up", "down"):
                clicks = amount if direction == "up" else -amount
                return f"pyautogui.scroll({clicks}, x={px!r}, y={py!r})"
            clicks = amount if direction == "right" else -amount
            return f"pyautogui.hscroll({clicks}, x={px!r}, y={py!r})"
        case TypeText(text):
            return f"pyautogui.write({text!r})"
        case Key(key):
            return f"pyautogui.press({PYAUTOGUI_NAMES.get(key, key)!r})"
        case Hotkey(keys):
            return f"pyautogui.hotkey({', '.join(repr(PYAUTOGUI_NAMES.get(k, k)) for k in keys)})"
        case Wait(seconds):
            return f"time.sleep({seconds!r})"
        case Done(answer):
            return "DONE" if answer is None else f"# answer: {_comment(answer)}\nDONE"
        case Fail(reason):
            return f"# reason: {_comment(reason)}\nFAIL" if reason else "FAIL"
        case CallUser(question):
            return f"# call_user: {_comment(question)}\nWAIT"
    raise ActionError(f"not an agent action: {action!r}")


# -- recorded steps and display text ------------------------------------------------------------
#: The JSON ``type`` of a recorded step that holds several actions: ``{"type": "sequence",
#: "actions": [...]}`` (the agent loop writes it when one model answer carries several actions).
SEQUENCE = "sequence"


def recorded_json(actions: Sequence[Action]) -> dict[str, Any] | None:
    """Return the JSON a step records for ``actions``: one action's, a sequence, or None for none."""
    if not actions:
        return None
    if len(actions) == 1:
        return to_json(actions[0])
    return {"type": SEQUENCE, "actions": [to_json(a) for a in actions]}


def recorded_items(data: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """Return the JSON of each action in a recorded step's ``action``, sequences unpacked.

    Reads the JSON as stored, without validating it (items that are not objects are skipped):
    for callers that show or classify records. :func:`recorded_actions` builds typed actions.
    """
    if data is None:
        return []
    if data.get("type") != SEQUENCE:
        return [data]
    inner = data.get("actions")
    if not isinstance(inner, list):
        return []
    return [item for a in inner if isinstance(a, Mapping) for item in recorded_items(a)]


def recorded_actions(data: Mapping[str, Any] | None) -> list[Action]:
    """Return the typed actions of a recorded step's ``action`` (empty for None).

    Raises ActionJSONError or ActionError, as :func:`from_json`, for an item that is not an action.
    """
    return [from_json(dict(item)) for item in recorded_items(data)]


_CLICK_NAMES = {1: "click", 2: "double-click", 3: "triple-click"}


def describe(action: Action, *, point: bool = True) -> str:
    """Return a short human reading of ``action``, e.g. ``right double-click at (412, 230)``.

    With ``point=False`` a click leaves out where it happened (the caller names the target).
    A drag names where it ends; scroll, type, key and hotkey name what they send; every other
    action reads as its signature with the values, e.g. ``move(x=3, y=4)``.
    """
    match action:
        case Click(x, y, button, count):
            name = _CLICK_NAMES[count] if button == "left" else f"{button} {_CLICK_NAMES[count]}"
            return f"{name} at ({x}, {y})" if point else name
        case Drag(_, _, to_x, to_y):
            return f"drag to ({to_x}, {to_y})"
        case Scroll(_, _, direction, amount):
            return f"scroll {direction} {amount}"
        case TypeText(text):
            return f"type {json.dumps(text, ensure_ascii=False)}"
        case Key(key):
            return f"key {key}"
        case Hotkey(keys):
            return f"hotkey {'+'.join(keys)}"
        case Done():
            return "done"
        case Fail(reason):
            return f"fail ({reason})"
    rest = ", ".join(f"{k}={v}" for k, v in to_json(action).items() if k != "type")
    return f"{action.type}({rest})" if rest else action.type


def _comment(text: str) -> str:
    # json.dumps keeps the text on one line (a newline would end the comment) and reversible.
    return json.dumps(text, ensure_ascii=False)


__all__ = [
    "ACTION_CLASSES",
    "ACTION_TYPES",
    "BUTTONS",
    "CONTROL_ACTIONS",
    "DIRECTIONS",
    "MAX_CLICKS",
    "MAX_SCROLL",
    "MAX_WAIT",
    "SEQUENCE",
    "Action",
    "ActionError",
    "ActionJSONError",
    "Button",
    "CallUser",
    "Click",
    "Direction",
    "Done",
    "Drag",
    "Fail",
    "Hotkey",
    "Key",
    "Move",
    "PointMap",
    "Scroll",
    "TypeText",
    "Wait",
    "describe",
    "describe_actions",
    "from_json",
    "pointer_after",
    "recorded_actions",
    "recorded_items",
    "recorded_json",
    "signature",
    "to_json",
    "to_pyautogui",
    "to_sandbox",
]
