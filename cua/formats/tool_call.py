"""The ``<tool_call>`` JSON shape of Qwen's ``computer_use`` tool, shared by Qwen2.5-VL and Qwen3-VL.

A reply is free text (the thought) and one or more blocks::

    <tool_call>
    {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [x, y]}}
    </tool_call>

The actions and their arguments follow the ``computer_use`` tool of Qwen's cookbooks and
qwen-agent (QwenLM/Qwen2.5-VL ``cookbooks/computer_use.ipynb``, its ``utils/agent_function_call.py``
and the Qwen3-VL revision of that file): ``key`` (``keys``), ``type`` (``text``), ``mouse_move``,
``left_click``, ``right_click``, ``middle_click``, ``double_click``, ``triple_click`` (each with an
optional ``coordinate``; without one they act at the pointer), ``left_click_drag`` (``coordinate``
is where the drag *ends*: it starts at the pointer), ``scroll`` / ``hscroll`` (``pixels``, which
the cookbook passes to ``pyautogui.scroll``, so they are wheel notches: positive up or right),
``wait`` (``time``), ``terminate`` (``status`` success or failure) and ``answer`` (``text``).

The parser reads every action either model may emit; ``render`` writes only the actions the
concrete format advertises. Subclasses (:mod:`cua.formats.qwen25vl`, :mod:`cua.formats.qwen3vl`)
supply the coordinate convention and the wording of the prompt.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cua.actions import (
    MAX_SCROLL,
    Action,
    Button,
    CallUser,
    Click,
    Direction,
    Done,
    Drag,
    Fail,
    Hotkey,
    Key,
    Move,
    Scroll,
    TypeText,
    Wait,
)
from cua.formats.assembly import (
    MAX_ACTIONS,
    Pointer,
    ReplyFormat,
    build,
    keys_action,
    split_keys,
)
from cua.formats.errors import (
    BadArgument,
    MalformedAction,
    NoAction,
    RenderError,
    UnknownAction,
    UnsupportedAction,
)
from cua.formats.geometry import CoordinateSpace, check_size, smart_resize

TOOL_NAME = "computer_use"
#: Seconds of a ``wait`` that gives no ``time``.
DEFAULT_WAIT = 2.0

#: Our own one-line description of each action, for the tool schema.
ACTION_HELP: dict[str, str] = {
    "key": "press a key, or a combination: the keys in `keys` go down in order and come up in reverse",
    "type": "type `text` at the keyboard focus; a newline in it presses Enter",
    "mouse_move": "move the pointer to `coordinate` without clicking",
    "left_click": "left-click at `coordinate`",
    "left_click_drag": "press the left button at the pointer, move to `coordinate` and release there "
    "(mouse_move to the start first)",
    "right_click": "right-click at `coordinate`",
    "middle_click": "middle-click at `coordinate`",
    "double_click": "double-click at `coordinate`",
    "triple_click": "triple-click at `coordinate` (selects a line or paragraph)",
    "scroll": "turn the mouse wheel by `pixels` notches at `coordinate`: positive scrolls up, negative down",
    "hscroll": "scroll sideways by `pixels` notches at `coordinate`: positive right, negative left",
    "wait": "wait `time` seconds, then look at the screen again",
    "terminate": "end the task: `status` is success when it is done, failure when it cannot be done",
    "answer": "give the answer the task asked for, in `text` (then terminate)",
}

#: One example tool call per action, for parse-error feedback.
EXAMPLES: dict[str, dict[str, Any]] = {
    "key": {"action": "key", "keys": ["ctrl", "c"]},
    "type": {"action": "type", "text": "hello"},
    "mouse_move": {"action": "mouse_move", "coordinate": ["x", "y"]},
    "left_click": {"action": "left_click", "coordinate": ["x", "y"]},
    "left_click_drag": {"action": "left_click_drag", "coordinate": ["x", "y"]},
    "right_click": {"action": "right_click", "coordinate": ["x", "y"]},
    "middle_click": {"action": "middle_click", "coordinate": ["x", "y"]},
    "double_click": {"action": "double_click", "coordinate": ["x", "y"]},
    "triple_click": {"action": "triple_click", "coordinate": ["x", "y"]},
    "scroll": {"action": "scroll", "pixels": -5, "coordinate": ["x", "y"]},
    "hscroll": {"action": "hscroll", "pixels": 5, "coordinate": ["x", "y"]},
    "wait": {"action": "wait", "time": 2},
    "terminate": {"action": "terminate", "status": "success"},
    "answer": {"action": "answer", "text": "42"},
}

_CLICKS: dict[str, tuple[Button, int]] = {
    "left_click": ("left", 1),
    "right_click": ("right", 1),
    "middle_click": ("middle", 1),
    "double_click": ("left", 2),
    "triple_click": ("left", 3),
}
_HOLDS = frozenset({"key_down", "key_up", "left_mouse_down", "left_mouse_up", "hold_key"})
_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_THINK = re.compile(r"</?think>")
_BARE_CALL = re.compile(r"\{\s*\"name\"\s*:")
_POINT_TEXT = re.compile(
    r"\s*[\[(]?\s*([-+]?\d{1,15}(?:\.\d{0,15})?)\s*,\s*([-+]?\d{1,15}(?:\.\d{0,15})?)\s*[\])]?\s*"
)


def tool_call(arguments: dict[str, Any]) -> str:
    """Return one ``<tool_call>`` block calling computer_use with ``arguments``."""
    call = {"name": TOOL_NAME, "arguments": arguments}
    return f"{_OPEN}\n{json.dumps(call, ensure_ascii=False)}\n{_CLOSE}"


@dataclass(frozen=True)
class ToolCallFormat(ReplyFormat[list[str]]):
    """The shared parser and renderer; subclasses fix the coordinates, actions and prompt."""

    name: str
    version: str
    factor: int
    min_pixels: int
    max_pixels: int
    #: The actions this format advertises in its prompt and may render.
    actions: tuple[str, ...]
    EMPTY_REPLY: ClassVar[str] = "the reply has no <tool_call> block"

    def model_image_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Return the (width, height) Qwen's processor resizes the screenshot to."""
        width, height = check_size("image_size", image_size)
        h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)
        return (w, h)

    def split_reply(self, body: str) -> tuple[str, list[str]]:
        """Return (thought, the contents of the tool-call blocks)."""
        return _split(body)

    def read_actions(
        self, part: list[str], space: CoordinateSpace, pointer: Pointer, thought: str
    ) -> list[Action]:
        """Return the actions of the tool calls, in order."""
        actions: list[Action] = []
        for block in part:
            for action in _actions(_decode(block), space, pointer, thought):
                if len(actions) >= MAX_ACTIONS:
                    raise UnsupportedAction(f"the reply holds more than {MAX_ACTIONS} actions")
                actions.append(action)
                pointer.follow(action)
        return actions

    def expected_syntax(self, action: str | None) -> str:
        """Return the tool call for ``action`` (one example and the action names when None)."""
        if action in EXAMPLES:
            return tool_call(EXAMPLES[action])
        return f"{tool_call(EXAMPLES['left_click'])}\nwhere action is one of: {', '.join(self.actions)}"

    def write_reply(self, actions: Sequence[Action], space: CoordinateSpace, thought: str) -> str:
        """Write ``actions`` as a thought and tool calls.

        A Drag becomes mouse_move to its start then left_click_drag to its end; Done with an
        answer becomes answer then terminate; Fail's reason fills an empty thought. CallUser, and
        actions this format does not advertise, raise RenderError.
        """
        if not thought:
            thought = next((a.reason for a in actions if isinstance(a, Fail)), "")
        calls = [call for action in actions for call in self._arguments(action, space)]
        for call in calls:
            if call["action"] not in self.actions:
                raise RenderError(f"{self.name} has no {call['action']} action")
        blocks = "\n".join(tool_call(call) for call in calls)
        return f"{thought}\n{blocks}" if thought else blocks

    def _arguments(self, action: Action, space: CoordinateSpace) -> list[dict[str, Any]]:
        def at(x: int, y: int) -> list[int | float]:
            return list(space.from_screen(x, y))

        match action:
            case Click(x, y, button, count):
                names = {v: k for k, v in _CLICKS.items()}
                name = names.get((button, count))
                if name is None:
                    raise RenderError(f"{self.name} has no {button} click with count {count}")
                return [{"action": name, "coordinate": at(x, y)}]
            case Move(x, y):
                return [{"action": "mouse_move", "coordinate": at(x, y)}]
            case Drag(x, y, to_x, to_y):
                return [
                    {"action": "mouse_move", "coordinate": at(x, y)},
                    {"action": "left_click_drag", "coordinate": at(to_x, to_y)},
                ]
            case Scroll(x, y, direction, amount):
                if direction in ("up", "down"):
                    pixels = amount if direction == "up" else -amount
                    return [{"action": "scroll", "pixels": pixels, "coordinate": at(x, y)}]
                pixels = amount if direction == "right" else -amount
                return [{"action": "hscroll", "pixels": pixels, "coordinate": at(x, y)}]
            case TypeText(text):
                return [{"action": "type", "text": text}]
            case Key(key):
                return [{"action": "key", "keys": [key]}]
            case Hotkey(keys):
                return [{"action": "key", "keys": list(keys)}]
            case Wait(seconds):
                return [{"action": "wait", "time": seconds}]
            case Done(answer):
                done = {"action": "terminate", "status": "success"}
                return [done] if answer is None else [{"action": "answer", "text": answer}, done]
            case Fail():
                return [{"action": "terminate", "status": "failure"}]
            case CallUser():
                raise RenderError(f"{self.name} has no way to ask the user")
        raise RenderError(f"not an agent action: {action!r}")


def _split(body: str) -> tuple[str, list[str]]:
    """Return (thought, tool-call contents); a last block missing its closing tag is kept.

    A block ends where its JSON object ends when that decodes, so a ``</tool_call>`` inside a
    string (text to type) does not cut it; otherwise at the closing tag.
    """
    blocks: list[str] = []
    rest: list[str] = []
    pos = 0
    while True:
        start = body.find(_OPEN, pos)
        if start < 0:
            rest.append(body[pos:])
            break
        if len(blocks) >= MAX_ACTIONS:
            raise UnsupportedAction(f"the reply holds more than {MAX_ACTIONS} tool calls")
        rest.append(body[pos:start])
        inner = start + len(_OPEN)
        end = _json_end(body, inner)
        if end is not None:
            blocks.append(body[inner:end])
            close = _skip_space(body, end)
            pos = close + len(_CLOSE) if body.startswith(_CLOSE, close) else end
            continue
        end = body.find(_CLOSE, inner)
        if end < 0:  # cut off, or the server stripped the closing tag
            blocks.append(body[inner:])
            break
        blocks.append(body[inner:end])
        pos = end + len(_CLOSE)
    thought = "".join(rest)
    if not blocks:
        found = _bare_call(body)
        if found is not None:
            start, end = found
            blocks.append(body[start:end])
            thought = body[:start] + body[end:]
    thought = _THINK.sub("", thought.replace(_CLOSE, "")).strip()
    if not blocks:
        raise NoAction("the reply has no <tool_call> block")
    return thought, blocks


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _json_end(body: str, pos: int) -> int | None:
    """Return where a JSON object starting at ``pos`` (after whitespace) ends, or None."""
    pos = _skip_space(body, pos)
    if not body.startswith("{", pos):
        return None
    try:
        _, end = json.JSONDecoder().raw_decode(body, pos)
    except (ValueError, RecursionError):
        return None
    return int(end)


def _bare_call(body: str) -> tuple[int, int] | None:
    """Find a ``{"name": ...}`` object written without the tags; return its span."""
    decoder = json.JSONDecoder()
    for n, match in enumerate(_BARE_CALL.finditer(body)):
        if n >= 5:
            break
        try:
            obj, end = decoder.raw_decode(body, match.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict) and "arguments" in obj:
            return match.start(), end
    return None


def _decode(block: str) -> dict[str, Any]:
    """Return the arguments object of one tool call."""
    content = block.strip()
    if not content:
        raise MalformedAction("a <tool_call> block is empty")
    try:
        obj, end = json.JSONDecoder().raw_decode(content)
    except json.JSONDecodeError as exc:
        raise MalformedAction(f"the tool call is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedAction(f"the tool call is not valid JSON ({exc})") from None
    if content[end:].strip():
        raise MalformedAction(
            "there is text after the JSON object inside <tool_call>; put one object per block"
        )
    if not isinstance(obj, dict):
        raise MalformedAction('a tool call is a JSON object: {"name": "computer_use", "arguments": {...}}')
    name = obj.get("name")
    if name != TOOL_NAME:
        raise UnknownAction(f"there is no tool named {name!r}; the only tool is {TOOL_NAME}")
    args = obj.get("arguments", obj.get("parameters"))
    if isinstance(args, str):  # some servers pass the arguments as a JSON string
        try:
            args = json.loads(args)
        except (ValueError, RecursionError):
            raise MalformedAction("the arguments string is not valid JSON") from None
    if not isinstance(args, dict):
        raise BadArgument('"arguments" must be a JSON object with an "action" key')
    return args


def _number(value: object, key: str, action: str) -> float | int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise BadArgument(f"{key} must be a number, got {value!r}", action=action)
    return value


def _actions(args: dict[str, Any], space: CoordinateSpace, ptr: Pointer, thought: str) -> list[Action]:
    """Return the actions of one computer_use call."""
    name = args.get("action")
    if not isinstance(name, str):
        raise BadArgument(f'arguments need "action", a string naming the action; got {name!r}')

    def point(key: str = "coordinate") -> tuple[int, int] | None:
        if args.get(key) is None:
            return None
        value = args[key]
        if isinstance(value, str):
            match = _POINT_TEXT.fullmatch(value)
            if match is None:
                raise BadArgument(f"{key} must be [x, y], got {value!r}", action=name)
            value = [float(g) if "." in g else int(g) for g in match.groups()]
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise BadArgument(f"{key} must be [x, y], got {value!r}", action=name)
        return space.to_screen(value[0], value[1], action=name)

    def here() -> tuple[int, int]:
        found = point()
        if found is not None:
            return found
        return ptr.require(name, 'add "coordinate": [x, y]')

    if name in _CLICKS:
        button, count = _CLICKS[name]
        x, y = here()
        return [build(name, lambda: Click(x, y, button, count))]
    match name:
        case "mouse_move":
            target = point()
            if target is None:
                raise BadArgument('mouse_move needs "coordinate": [x, y]', action=name)
            return [build(name, lambda: Move(*target))]
        case "left_click_drag":
            end = point()
            if end is None:
                raise BadArgument(
                    'left_click_drag needs "coordinate": [x, y], where the drag ends', action=name
                )
            start = point("start_coordinate") or ptr.require(
                name, "the drag starts at the pointer: call mouse_move to the start point first"
            )
            return [build(name, lambda: Drag(start[0], start[1], end[0], end[1]))]
        case "scroll" | "hscroll":
            pixels = _number(args.get("pixels"), "pixels", name)
            if pixels == 0:
                raise BadArgument(
                    "pixels must not be 0: positive scrolls up (or right), negative down (or left)",
                    action=name,
                )
            # Clamped: a request beyond MAX_SCROLL notches still means "scroll a lot that way".
            amount = min(MAX_SCROLL, max(1, round(abs(pixels))))
            direction: Direction
            if name == "scroll":
                direction = "up" if pixels > 0 else "down"
            else:
                direction = "right" if pixels > 0 else "left"
            x, y = here()
            return [build(name, lambda: Scroll(x, y, direction, amount))]
        case "type":
            text = args.get("text")
            if not isinstance(text, str):
                raise BadArgument(f'type needs "text", a string; got {text!r}', action=name)
            typed: str = text
            return [build(name, lambda: TypeText(typed))]
        case "key":
            keys = args.get("keys", args.get("key"))
            if isinstance(keys, str):
                keys = split_keys(keys) if len(keys) > 1 else [keys]
            if not isinstance(keys, list):
                raise BadArgument(f'key needs "keys", a list of key names; got {keys!r}', action=name)
            return [keys_action(keys, name)]
        case "wait":
            seconds = args.get("time", DEFAULT_WAIT)
            return [build(name, lambda: Wait(seconds))]
        case "terminate":
            status = args.get("status")
            if status == "success":
                answer = args.get("answer")
                return [build(name, lambda: Done(answer if isinstance(answer, str) else None))]
            if status == "failure":
                return [Fail(thought)]
            raise BadArgument(
                f'terminate needs "status": "success" or "failure", got {status!r}', action=name
            )
        case "answer":
            text = args.get("text", args.get("answer"))
            if not isinstance(text, str):
                raise BadArgument(f'answer needs "text", a string; got {text!r}', action=name)
            return [Done(text)]
    if name in _HOLDS:
        raise UnsupportedAction(f"{name} holds a key or button down, which is not supported", action="key")
    if name == "screenshot":
        raise UnsupportedAction(
            "a new screenshot comes with every turn; choose an action instead", action=None
        )
    raise UnknownAction(f"unknown action {name!r}", action=None)


__all__ = ["ACTION_HELP", "DEFAULT_WAIT", "EXAMPLES", "TOOL_NAME", "ToolCallFormat", "tool_call"]
