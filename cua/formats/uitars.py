r"""UI-TARS-1.5: ``Thought: ...`` then ``Action: click(start_box='(x,y)')``.

Grammar (checked against bytedance/UI-TARS: the computer-use action space of its prompt templates,
``codes/ui_tars/action_parser.py`` and README_coordinates.md): one ``Thought:`` paragraph, then an
``Action:`` line with one call, or several separated by blank lines. The calls are ``click``,
``left_double``, ``right_single``, ``drag(start_box, end_box)``, ``hotkey(key='ctrl c')``,
``type(content=...)`` (a trailing ``\\n`` presses Enter), ``scroll(start_box, direction)``,
``wait()``, ``finished(content=...)`` and ``call_user()``. Points are written ``'(x,y)'``, also
seen as ``'<|box_start|>(x,y)<|box_end|>'``, boxes ``'(x1,y1,x2,y2)'`` (we use the centre), and in
later prompt revisions ``point='<point>x y</point>'``; all are accepted.

Coordinates are absolute pixels of the screenshot after Qwen2.5-VL's ``smart_resize`` (factor 28,
min_pixels 100*28*28, max_pixels 16384*28*28, the values UI-TARS' own parser pins); they are mapped
back to screen pixels. Arguments are read by a small scanner rather than ``ast``, because the
model leaves quotes inside ``content`` unescaped often enough that UI-TARS' own parser repairs them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cua.actions import (
    DIRECTIONS,
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
from cua.formats.geometry import CoordinateSpace, check_size, image_pixels, smart_resize
from sandbox.guest.keys import PYAUTOGUI_NAMES

#: Wheel notches of one UI-TARS scroll (its syntax has a direction but no amount).
SCROLL_AMOUNT = 5
#: Seconds of one ``wait()``, as the UI-TARS action space describes it.
WAIT_SECONDS = 5.0

#: One example per call; the prompt and the parse-error feedback both show these.
SYNTAX: dict[str, str] = {
    "click": "click(start_box='(x,y)')",
    "left_double": "left_double(start_box='(x,y)')",
    "right_single": "right_single(start_box='(x,y)')",
    "drag": "drag(start_box='(x1,y1)', end_box='(x2,y2)')",
    "hotkey": "hotkey(key='ctrl c')",
    "type": "type(content='text to type')",
    "scroll": "scroll(start_box='(x,y)', direction='down')",
    "wait": "wait()",
    "finished": "finished(content='the answer, if the task asked for one')",
    "call_user": "call_user()",
}

_COMMENTS: dict[str, str] = {
    "click": "left click",
    "left_double": "double click",
    "right_single": "right click",
    "drag": "press at the first point, release at the second",
    "hotkey": "one key or a combination: lower-case key names separated by spaces, at most three",
    "type": "type text; end it with \\n to press Enter; write ', \" and line breaks as \\', \\\" and \\n",
    "scroll": "direction is up, down, left or right",
    "wait": "pause five seconds, then look at the screen again",
    "finished": "the task is complete; content holds the answer if the task asked a question",
    "call_user": "stop: the task cannot be done, or you need the user's help",
}

PROMPT_TEMPLATE = """\
You operate a computer desktop to carry out a task for the user. Each turn shows you the current \
screenshot; reply with your reasoning and the single next action.

## Output Format
Thought: <what you see, what is left to do, and the next action with its target, in one short paragraph>
Action: <one call from the action space>

## Action Space
{actions}

## Note
- Coordinates are pixels of the screenshot as you see it: x from 0 to {max_x}, y from 0 to {max_y}, \
(0,0) at the top left.
- Write the Thought in {language}.

## User Instruction
{instruction}
"""

# Argument names each call accepts (after folding point= and start_point= into start_box=).
_PARAMS: dict[str, frozenset[str]] = {
    "click": frozenset({"start_box"}),
    "left_double": frozenset({"start_box"}),
    "right_single": frozenset({"start_box"}),
    "drag": frozenset({"start_box", "end_box"}),
    "select": frozenset({"start_box", "end_box"}),
    "hotkey": frozenset({"key", "hotkey"}),
    "press": frozenset({"key", "press"}),
    "type": frozenset({"content"}),
    "scroll": frozenset({"start_box", "direction"}),
    "wait": frozenset(),
    "finished": frozenset({"content"}),
    "call_user": frozenset(),
}
_ARG_ALIASES = {"point": "start_box", "start_point": "start_box", "end_point": "end_box"}
_DIRECTIONS: dict[str, Direction] = {d: d for d in DIRECTIONS}
_HOLDS = frozenset({"keydown", "keyup", "release", "mouse_down", "mouse_up"})

_ACTION_LINE = re.compile(r"^[ \t]*(?:#+[ \t]*)?Action[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE)
_LABEL = re.compile(r"^\s*(?:Thought|Reflection|Action_Summary)\s*:\s*", re.IGNORECASE)
_CALL = re.compile(r"([A-Za-z_]\w*)[ \t]*\(")
_KEYWORD = re.compile(r"([A-Za-z_]\w*)\s*=\s*")
_BARE_VALUE = re.compile(r"[^,()\s]+")
# What may follow a closing quote: the next keyword argument, or the end of the call followed by
# the end of the text or the next call. Quotes anywhere else belong to the string.
_AFTER_VALUE = re.compile(r"\s*(?:,\s*[A-Za-z_]\w*\s*=|,?\s*\)\s*(?:\Z|(?=[A-Za-z_]\w*[ \t]*\()))")
_ESCAPES = {"n": "\n", "t": "\t", "'": "'", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_BOX_TOKENS = re.compile(r"<\|box_start\|>|<\|box_end\|>|</?point>|</?bbox>")
_NUMBER = re.compile(r"[-+]?(?:\d{1,15}(?:\.\d{0,15})?|\.\d{1,15})")

_Call = tuple[str, dict[str, str], int]  # name, arguments, offset in the action text


@dataclass(frozen=True)
class UITarsFormat(ReplyFormat[str]):
    """UI-TARS-1.5's Thought/Action format, on pixels of the smart-resized screenshot."""

    name: str = "ui-tars-1.5"
    version: str = "1"
    factor: int = 28
    min_pixels: int = 100 * 28 * 28
    max_pixels: int = 16384 * 28 * 28
    language: str = "English"
    template: str = PROMPT_TEMPLATE
    EMPTY_REPLY: ClassVar[str] = "the Action: line holds no call"

    def model_image_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Return the (width, height) the screenshot is resized to before the model sees it."""
        width, height = check_size("image_size", image_size)
        h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)
        return (w, h)

    def coordinate_space(self, screen: tuple[int, int], image_size: tuple[int, int]) -> CoordinateSpace:
        """Return the pixels of the resized screenshot, mapped onto ``screen``."""
        return image_pixels(self.model_image_size(image_size), check_size("screen", screen))

    def system_prompt(self, instruction: str, screen: tuple[int, int], image_size: tuple[int, int]) -> str:
        """Return the prompt: output format, action space, coordinate range, then the instruction."""
        check_size("screen", screen)
        w, h = self.model_image_size(image_size)
        width = max(len(s) for s in SYNTAX.values())
        actions = "\n".join(f"{SYNTAX[n]:<{width}}  # {_COMMENTS[n]}" for n in SYNTAX)
        return self.template.format(
            actions=actions, max_x=w - 1, max_y=h - 1, language=self.language, instruction=instruction
        )

    def split_reply(self, body: str) -> tuple[str, str]:
        """Return (thought, the text after ``Action:``)."""
        return _split(body)

    def read_actions(self, part: str, space: CoordinateSpace, pointer: Pointer, thought: str) -> list[Action]:
        """Return the actions of the calls on the Action: line."""
        actions: list[Action] = []
        for name, args, _ in _calls(part):
            action = _action(name, args, space, pointer, thought)
            actions.append(action)
            pointer.follow(action)
        return actions

    def expected_syntax(self, action: str | None) -> str:
        """Return the Thought/Action reply for ``action`` (every call when None)."""
        return _expected(action)

    def write_reply(self, actions: Sequence[Action], space: CoordinateSpace, thought: str) -> str:
        """Write ``actions`` as a UI-TARS reply.

        Lossy where UI-TARS cannot say it: a Scroll becomes one UI-TARS scroll (its amount is
        dropped) and a Wait becomes ``wait()``. A call_user() question is the thought, so the
        question fills an empty thought. Move, Fail, middle clicks and triple clicks have no
        UI-TARS call: RenderError.
        """
        if not thought:
            thought = next((a.question for a in actions if isinstance(a, CallUser)), "")
        calls = "\n\n".join(_render(a, space) for a in actions)
        return f"Thought: {thought}\nAction: {calls}"


def _expected(action: str | None) -> str:
    if action in SYNTAX:
        return f"Thought: <your reasoning>\nAction: {SYNTAX[action]}"
    return "Thought: <your reasoning>\nAction: <exactly one of>\n" + "\n".join(SYNTAX.values())


def _split(body: str) -> tuple[str, str]:
    """Return (thought, action text) of a reply."""
    match = _ACTION_LINE.search(body)
    if match is None:
        stripped = body.strip()
        call = _CALL.match(stripped)
        if call is not None and call.group(1) in _PARAMS:
            return "", stripped  # a bare call, without the Action: label
        raise NoAction("there is no 'Action:' line")
    thought = _LABEL.sub("", body[: match.start()], count=1).strip()
    section = body[match.end() :].strip()
    if not section:
        raise NoAction("the 'Action:' line is empty")
    return thought, section


def _calls(section: str) -> list[_Call]:
    """Scan ``name(key='value', ...)`` calls, one after another, from the action text."""
    calls: list[_Call] = []
    pos = 0
    while True:
        pos = _skip_space(section, pos)
        if pos >= len(section):
            return calls
        match = _CALL.match(section, pos)
        if match is None:
            snippet = section[pos : pos + 40]
            raise MalformedAction(
                f"expected an action call such as click(start_box='(x,y)'), found {snippet!r}"
            )
        if len(calls) >= MAX_ACTIONS:
            raise UnsupportedAction(f"the reply holds more than {MAX_ACTIONS} actions")
        name = match.group(1)
        args, pos = _arguments(section, match.end(), name)
        calls.append((name, args, match.start()))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _arguments(text: str, pos: int, name: str) -> tuple[dict[str, str], int]:
    """Read ``key='value', ...)`` from ``pos`` (just after the opening parenthesis)."""
    args: dict[str, str] = {}
    while True:
        pos = _skip_space(text, pos)
        if pos >= len(text):
            raise MalformedAction(f"{name}( is not closed with ')'", action=name)
        if text[pos] == ")":
            return args, pos + 1
        if args:
            if text[pos] != ",":
                raise MalformedAction(f"the arguments of {name} must be separated by commas", action=name)
            pos = _skip_space(text, pos + 1)
            if pos < len(text) and text[pos] == ")":
                return args, pos + 1
        keyword = _KEYWORD.match(text, pos)
        if keyword is None:
            raise MalformedAction(f"the arguments of {name} must be written as key='value'", action=name)
        key = keyword.group(1)
        pos = keyword.end()
        if pos >= len(text):
            raise MalformedAction(f"{key}= has no value", action=name)
        if text[pos] in "'\"":
            value, pos = _quoted(text, pos, name)
        elif text[pos] in "([":
            value, pos = _bracketed(text, pos, name)
        else:
            bare = _BARE_VALUE.match(text, pos)
            if bare is None:
                raise MalformedAction(f"{key}= has no value", action=name)
            value, pos = bare.group(), bare.end()
        if key in args:
            raise BadArgument(f"{name} repeats the argument {key}", action=name)
        args[key] = value


def _quoted(text: str, start: int, name: str) -> tuple[str, int]:
    """Read a quoted string starting at ``start``; return its unescaped value and the end offset."""
    quote = text[start]
    first_close = -1
    pos = start + 1
    while True:
        pos = text.find(quote, pos)
        if pos < 0:
            break
        backslashes = 0
        while text[pos - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            if first_close < 0:
                first_close = pos
            if _AFTER_VALUE.match(text, pos + 1):
                return _unescape(text[start + 1 : pos]), pos + 1
        pos += 1
    if first_close < 0:
        raise MalformedAction(
            f"a string argument of {name} is not closed: add the closing {quote}", action=name
        )
    return _unescape(text[start + 1 : first_close]), first_close + 1


def _bracketed(text: str, start: int, name: str) -> tuple[str, int]:
    """Read an unquoted ``(x,y)`` or ``[x1, y1, x2, y2]`` value."""
    depth = 0
    for pos in range(start, len(text)):
        if text[pos] in "([":
            depth += 1
        elif text[pos] in ")]":
            depth -= 1
            if depth == 0:
                return text[start : pos + 1], pos + 1
    raise MalformedAction(f"a bracket in the arguments of {name} is not closed", action=name)


def _unescape(raw: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), raw)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")


def _point(value: str, key: str, name: str, space: CoordinateSpace) -> tuple[int, int]:
    """Return the screen pixel of a point ``(x,y)`` or the centre of a box ``(x1,y1,x2,y2)``."""
    cleaned = _BOX_TOKENS.sub(" ", value).strip()
    for _ in range(2):
        if cleaned[:1] in ("(", "[") and cleaned[-1:] in (")", "]"):
            cleaned = cleaned[1:-1].strip()
    parts = [p for p in re.split(r"[\s,]+", cleaned) if p]
    if len(parts) not in (2, 4) or not all(_NUMBER.fullmatch(p) for p in parts):
        raise BadArgument(f"{key}={value!r} is not a point '(x,y)' or a box '(x1,y1,x2,y2)'", action=name)
    nums = [float(p) if "." in p else int(p) for p in parts]
    if len(nums) == 4:
        return space.to_screen((nums[0] + nums[2]) / 2, (nums[1] + nums[3]) / 2, action=name)
    return space.to_screen(nums[0], nums[1], action=name)


def _action(name: str, raw: dict[str, str], space: CoordinateSpace, ptr: Pointer, thought: str) -> Action:
    """Build the action of one call."""
    if name.lower() in _HOLDS:
        raise UnsupportedAction(f"{name} holds a key or button down, which is not supported; use hotkey()")
    params = _PARAMS.get(name)
    if params is None:
        raise UnknownAction(f"unknown action {name!r}; the actions are {', '.join(SYNTAX)}", action=None)
    args = {_ARG_ALIASES.get(k, k): v for k, v in raw.items()}
    unexpected = sorted(set(args) - params)
    if unexpected:
        raise BadArgument(f"{name} takes no argument {', '.join(unexpected)}", action=name)

    def at(key: str) -> tuple[int, int]:
        if key in args:
            return _point(args[key], key, name, space)
        return ptr.require(name, f"give {key}='(x,y)'")

    match name:
        case "click" | "left_double" | "right_single":
            x, y = at("start_box")
            button: Button = "right" if name == "right_single" else "left"
            count = 2 if name == "left_double" else 1
            return build(name, lambda: Click(x, y, button, count))
        case "drag" | "select":
            if "end_box" not in args:
                raise BadArgument(f"{name} needs end_box='(x2,y2)'", action="drag")
            x, y = at("start_box")
            to_x, to_y = at("end_box")
            return build("drag", lambda: Drag(x, y, to_x, to_y))
        case "hotkey" | "press":
            spec = args.get("key", args.get(name))
            if spec is None:
                raise BadArgument(f"{name} needs key='...'", action="hotkey")
            return keys_action(split_keys(spec), "hotkey")
        case "type":
            if "content" not in args:
                raise BadArgument("type needs content='...'", action=name)
            return build(name, lambda: TypeText(args["content"]))
        case "scroll":
            direction = args.get("direction", "").strip().lower()
            if direction not in _DIRECTIONS:
                raise BadArgument(
                    f"scroll needs direction='up', 'down', 'left' or 'right', got {args.get('direction')!r}",
                    action=name,
                )
            x, y = at("start_box")
            return build(name, lambda: Scroll(x, y, _DIRECTIONS[direction], SCROLL_AMOUNT))
        case "wait":
            return Wait(WAIT_SECONDS)
        case "finished":
            return Done(args.get("content"))
        case _:  # call_user
            return CallUser(thought)


def _box(x: int | float, y: int | float) -> str:
    return f"'({x},{y})'"


def _render(action: Action, space: CoordinateSpace) -> str:
    """Return the UI-TARS call for one action."""
    match action:
        case Click(x, y, button, count):
            names = {("left", 1): "click", ("left", 2): "left_double", ("right", 1): "right_single"}
            name = names.get((button, count))
            if name is None:
                raise RenderError(f"UI-TARS has no {button} click with count {count}")
            return f"{name}(start_box={_box(*space.from_screen(x, y))})"
        case Drag(x, y, to_x, to_y):
            start, end = _box(*space.from_screen(x, y)), _box(*space.from_screen(to_x, to_y))
            return f"drag(start_box={start}, end_box={end})"
        case Scroll(x, y, direction):
            return f"scroll(start_box={_box(*space.from_screen(x, y))}, direction='{direction}')"
        case TypeText(text):
            return f"type(content='{_escape(text)}')"
        case Key(key):
            return f"hotkey(key='{_escape(PYAUTOGUI_NAMES.get(key, key))}')"
        case Hotkey(keys):
            return f"hotkey(key='{_escape(' '.join(PYAUTOGUI_NAMES.get(k, k) for k in keys))}')"
        case Wait():
            return "wait()"
        case Done(answer):
            return "finished()" if answer is None else f"finished(content='{_escape(answer)}')"
        case CallUser():
            return "call_user()"
        case Move() | Fail():
            raise RenderError(f"UI-TARS has no action for {action.type}")
    raise RenderError(f"not an agent action: {action!r}")


#: The default UI-TARS-1.5 format.
UI_TARS = UITarsFormat()

__all__ = ["PROMPT_TEMPLATE", "SCROLL_AMOUNT", "SYNTAX", "UI_TARS", "WAIT_SECONDS", "UITarsFormat"]
