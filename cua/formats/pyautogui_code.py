"""OSWorld / OpenCUA: a ```python block of pyautogui calls, or WAIT / DONE / FAIL.

Grammar (checked against OSWorld's ``mm_agents`` prompts for the ``pyautogui`` action space and
its ``parse_code_from_string``, and OpenCUA's prompts): the reply is reasoning text and code in
fenced blocks; a block may instead hold one of the special codes ``WAIT``, ``DONE`` or ``FAIL``
(also accepted on a line of their own without a fence). OpenCUA adds ``computer.terminate(status=
'success'|'failure', answer=...)``, ``computer.wait()`` (20 seconds) and
``computer.triple_click(x, y)``; all are accepted.

The code is read with :mod:`ast`, never executed: each statement must be a call with literal
arguments (``for _ in range(n):`` around such calls is unrolled), pyautogui's own signatures are
bound, and anything else (variables, conditions, other modules, ``keyDown``/``keyUp`` pairs,
``mouseDown``/``mouseUp``) is refused with a message saying what to write instead.

Coordinates are screen pixels (OSWorld), or with ``relative=True`` fractions 0.0–1.0 of the
screen's width and height (OpenCUA's relative mode).
"""

from __future__ import annotations

import ast
import re
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cua.actions import (
    MAX_CLICKS,
    MAX_SCROLL,
    Action,
    Button,
    CallUser,
    Click,
    Direction,
    Done,
    Drag,
    Fail,
    Move,
    Scroll,
    TypeText,
    Wait,
    to_pyautogui,
)
from cua.formats.assembly import MAX_ACTIONS, Pointer, ReplyFormat, build, keys_action
from cua.formats.errors import (
    BadArgument,
    MalformedAction,
    NoAction,
    RenderError,
    UnknownAction,
    UnsupportedAction,
)
from cua.formats.geometry import CoordinateSpace, check_size, screen_pixels, unit_square

#: Seconds of a bare ``WAIT`` (OSWorld leaves the length to the environment's pause).
WAIT_SECONDS = 2.0
#: Seconds of OpenCUA's ``computer.wait()``, as its prompt describes it.
COMPUTER_WAIT_SECONDS = 20.0

# pyautogui's parameter order, for binding positional arguments (pyautogui 0.9.54).
_MOUSE_TAIL = ("duration", "tween", "logScreenshot", "_pause")
_SIGNATURES: dict[str, tuple[str, ...]] = {
    "click": ("x", "y", "clicks", "interval", "button", *_MOUSE_TAIL),
    "doubleClick": ("x", "y", "interval", "button", *_MOUSE_TAIL),
    "tripleClick": ("x", "y", "interval", "button", *_MOUSE_TAIL),
    "rightClick": ("x", "y", "interval", *_MOUSE_TAIL),
    "middleClick": ("x", "y", "interval", *_MOUSE_TAIL),
    "moveTo": ("x", "y", *_MOUSE_TAIL),
    "dragTo": ("x", "y", "duration", "tween", "button", "logScreenshot", "_pause", "mouseDownUp"),
    "scroll": ("clicks", "x", "y", "logScreenshot", "_pause"),
    "vscroll": ("clicks", "x", "y", "logScreenshot", "_pause"),
    "hscroll": ("clicks", "x", "y", "logScreenshot", "_pause"),
    "write": ("message", "interval", "logScreenshot", "_pause"),
    "typewrite": ("message", "interval", "logScreenshot", "_pause"),
    "press": ("keys", "presses", "interval", "logScreenshot", "_pause"),
    "hotkey": (),  # *keys, interval=...
}
# Arguments that only pace or log the motion; accepted and ignored (never evaluated).
_IGNORED = frozenset({"duration", "tween", "interval", "logScreenshot", "_pause", "mouseDownUp"})
_CLICK_COUNTS = {"click": 1, "doubleClick": 2, "tripleClick": 3, "rightClick": 1, "middleClick": 1}
_BUTTONS: dict[str, Button] = {
    "left": "left", "primary": "left", "right": "right", "secondary": "right", "middle": "middle",
}  # fmt: skip
_SPECIAL = ("WAIT", "DONE", "FAIL")
_HINTS: dict[str, str] = {
    "keyDown": "holding keys is not supported; press a combination with pyautogui.hotkey('ctrl', 'c')",
    "keyUp": "holding keys is not supported; press a combination with pyautogui.hotkey('ctrl', 'c')",
    "mouseDown": "holding the button is not supported; drag with pyautogui.moveTo(x1, y1) then "
    "pyautogui.dragTo(x2, y2)",
    "mouseUp": "holding the button is not supported; drag with pyautogui.moveTo(x1, y1) then "
    "pyautogui.dragTo(x2, y2)",
    "moveRel": "relative moves are not supported; use pyautogui.moveTo(x, y)",
    "move": "relative moves are not supported; use pyautogui.moveTo(x, y)",
    "dragRel": "relative drags are not supported; use pyautogui.moveTo(x1, y1) then pyautogui.dragTo(x2, y2)",
    "drag": "relative drags are not supported; use pyautogui.moveTo(x1, y1) then pyautogui.dragTo(x2, y2)",
}

#: One example per call, for the prompt and for parse-error feedback.
SYNTAX: dict[str, str] = {
    "click": "pyautogui.click(x, y)",
    "doubleClick": "pyautogui.doubleClick(x, y)",
    "tripleClick": "pyautogui.tripleClick(x, y)",
    "rightClick": "pyautogui.rightClick(x, y)",
    "moveTo": "pyautogui.moveTo(x, y)",
    "dragTo": "pyautogui.dragTo(x, y)",
    "scroll": "pyautogui.scroll(-5, x=x, y=y)",
    "hscroll": "pyautogui.hscroll(5, x=x, y=y)",
    "write": "pyautogui.write('text')",
    "press": "pyautogui.press('enter')",
    "hotkey": "pyautogui.hotkey('ctrl', 'c')",
    "sleep": "time.sleep(2)",
    "terminate": "computer.terminate(status='success', answer='...')",
}
_COMMENTS: dict[str, str] = {
    "click": "left click; add button='right' or button='middle', or clicks=2",
    "doubleClick": "double click",
    "tripleClick": "triple click (selects a line)",
    "rightClick": "right click",
    "moveTo": "move the pointer",
    "dragTo": "drag from the pointer to (x, y): first pyautogui.moveTo(start_x, start_y)",
    "scroll": "turn the wheel at (x, y): positive scrolls up, negative down, in notches",
    "hscroll": "scroll sideways: positive right, negative left",
    "write": "type text; '\\n' presses Enter",
    "press": "press one key: enter, esc, tab, backspace, delete, up, down, f5, ...",
    "hotkey": "press a key combination",
    "sleep": "wait some seconds",
    "terminate": "finish and give the answer, when the task asked a question",
}

PROMPT_TEMPLATE = """\
You operate a computer desktop to carry out the user's task. Each turn you see a screenshot of \
the screen. Explain briefly what you see and what you will do next, then give the next step as \
Python code in one ```python block.

The code may only call these functions, one call per line, with literal arguments: no variables, \
conditions or other modules.
{functions}

Instead of code, the block may hold one word on its own:
WAIT   nothing to do until the screen changes
DONE   the task is complete
FAIL   the task cannot be done

{coordinates}

Task: {instruction}
"""

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_LANGS = frozenset({"", "python", "py", "python3", "code"})
_CODE_LINE = re.compile(r"(?:WAIT|DONE|FAIL|(?:pyautogui|computer)\.\w+\s*\(.*|time\.sleep\s*\(.*)")


@dataclass(frozen=True)
class PyAutoGUIFormat(ReplyFormat[str]):
    """pyautogui code blocks (OSWorld), on screen pixels or, if ``relative``, fractions of the screen."""

    name: str = "pyautogui"
    version: str = "1"
    relative: bool = False
    template: str = PROMPT_TEMPLATE
    EMPTY_REPLY: ClassVar[str] = "the code block holds no action"

    def model_image_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Return ``image_size``: this format does not resize screenshots."""
        return check_size("image_size", image_size)

    def coordinate_space(self, screen: tuple[int, int], image_size: tuple[int, int]) -> CoordinateSpace:
        """Return screen pixels, or fractions of the screen when ``relative``."""
        check_size("image_size", image_size)
        screen = check_size("screen", screen)
        return unit_square(screen) if self.relative else screen_pixels(screen)

    def system_prompt(self, instruction: str, screen: tuple[int, int], image_size: tuple[int, int]) -> str:
        """Return the prompt: allowed calls, special codes, the coordinates, then the task."""
        self.coordinate_space(screen, image_size)
        width = max(len(s) for s in SYNTAX.values())
        functions = "\n".join(f"{SYNTAX[n]:<{width}}  # {_COMMENTS[n]}" for n in SYNTAX)
        w, h = screen
        if self.relative:
            coordinates = (
                "Coordinates are fractions of the screen: x from 0.0 (left edge) to 1.0 (right edge), "
                "y from 0.0 (top) to 1.0 (bottom)."
            )
        else:
            coordinates = (
                f"The screen is {w}x{h} pixels. Coordinates are screen pixels: x from 0 to {w - 1}, "
                f"y from 0 to {h - 1}, (0, 0) at the top left."
            )
        return self.template.format(functions=functions, coordinates=coordinates, instruction=instruction)

    def split_reply(self, body: str) -> tuple[str, str]:
        """Return (thought, code): the fenced code blocks, or else the lines that look like code."""
        return _split(body)

    def read_actions(self, part: str, space: CoordinateSpace, pointer: Pointer, thought: str) -> list[Action]:
        """Return the actions the code's statements perform."""
        walker = _Walker(space, pointer, thought)
        walker.block(_parse_python(part).body, top=True)
        return walker.actions

    def expected_syntax(self, action: str | None) -> str:
        """Return the code block for ``action`` (the allowed calls when None)."""
        return _expected(action)

    def write_reply(self, actions: Sequence[Action], space: CoordinateSpace, thought: str) -> str:
        """Write ``actions`` as reasoning text and one code block.

        Done renders as ``DONE``, or ``computer.terminate(status='success', answer=...)`` when it
        carries an answer; Fail renders as ``FAIL`` with its reason as the thought (when the
        thought is empty). CallUser has no counterpart: RenderError.
        """
        if not thought:
            thought = next((a.reason for a in actions if isinstance(a, Fail)), "")
        lines = []
        for action in actions:
            match action:
                case Done(answer) if answer is not None:
                    lines.append(f"computer.terminate(status='success', answer={answer!r})")
                case Fail():
                    lines.append("FAIL")
                case CallUser():
                    raise RenderError("the pyautogui format has no way to ask the user")
                case _:
                    lines.append(to_pyautogui(action, point=space.from_screen))
        # Generated code has backticks only inside string literals; escaping them keeps a
        # typed "```" from closing the fence early.
        code = "\n".join(lines).replace("`", "\\x60")
        block = f"```python\n{code}\n```"
        return f"{thought}\n{block}" if thought else block


def _expected(action: str | None) -> str:
    if action in SYNTAX:
        return f"```python\n{SYNTAX[action]}\n```"
    calls = "\n".join(SYNTAX.values())
    return f"one ```python block of calls such as:\n{calls}\nor a block holding only WAIT, DONE or FAIL"


def _split(body: str) -> tuple[str, str]:
    """Return (thought, code): the fenced code blocks, or else the lines that look like code."""
    code: list[str] = []
    rest: list[str] = []
    pos = 0
    for match in _FENCE.finditer(body):
        if match.group(1).lower() not in _CODE_LANGS:
            continue
        rest.append(body[pos : match.start()])
        code.append(textwrap.dedent(match.group(2)))
        pos = match.end()
    rest.append(body[pos:])
    if not code:  # no fence: take the lines that are calls or special codes
        rest = []
        for line in body.splitlines():
            bare = line.strip().strip("`").strip()
            if _CODE_LINE.fullmatch(bare):
                code.append(bare)
            else:
                rest.append(line)
    if not any(c.strip() for c in code):
        raise NoAction("there is no ```python code block and no WAIT, DONE or FAIL")
    return "\n".join(rest).strip(), "\n".join(code)


def _parse_python(code: str) -> ast.Module:
    try:
        # Model code often has odd escapes ("\\d"); their warnings are noise to the caller.
        # (catch_warnings swaps the process-wide filters: at worst another thread misses a warning.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return ast.parse(code)
    except SyntaxError as exc:
        raise MalformedAction(f"the code is not valid Python: {exc.msg} (line {exc.lineno})") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise MalformedAction(f"the code cannot be read: {exc}") from None


def _statement_kind(node: ast.stmt) -> str:
    return {
        "Assign": "assignments", "AugAssign": "assignments", "AnnAssign": "assignments",
        "If": "conditions", "While": "while loops", "For": "for loops other than `for _ in range(n):`",
        "FunctionDef": "function definitions", "Try": "try blocks", "With": "with blocks",
    }.get(type(node).__name__, f"{type(node).__name__} statements")  # fmt: skip


class _Walker:
    """Turns the statements of one code block into actions, following the pointer."""

    def __init__(self, space: CoordinateSpace, pointer: Pointer, thought: str) -> None:
        self.space = space
        self.pointer = pointer
        self.thought = thought
        self.actions: list[Action] = []

    def add(self, action: Action) -> None:
        if len(self.actions) >= MAX_ACTIONS:
            raise UnsupportedAction(f"the code asks for more than {MAX_ACTIONS} actions")
        self.actions.append(action)
        self.pointer.follow(action)

    def block(self, body: list[ast.stmt], top: bool) -> None:
        for node in body:
            self.statement(node, top)

    def statement(self, node: ast.stmt, top: bool) -> None:
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if all(n.split(".")[0] in ("pyautogui", "time") for n in names):
                return
            raise UnsupportedAction(
                f"line {line}: only pyautogui and time may be used, not {', '.join(names)}"
            )
        if isinstance(node, ast.Pass):
            return
        if isinstance(node, ast.Expr):
            value = node.value
            if isinstance(value, ast.Name) and value.id in _SPECIAL:
                self.special(value.id)
                return
            if isinstance(value, ast.Call):
                self.call(value)
                return
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return  # a string used as a comment
        if isinstance(node, ast.For) and top and self.loop(node):
            return
        raise UnsupportedAction(
            f"line {line}: only plain calls such as pyautogui.click(x, y) are allowed, "
            f"not {_statement_kind(node)}"
        )

    def loop(self, node: ast.For) -> bool:
        """Unroll ``for _ in range(n):`` around plain calls; False if the loop has another shape."""
        it = node.iter
        if not (
            isinstance(node.target, ast.Name)
            and not node.orelse
            and isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id == "range"
            and len(it.args) == 1
            and not it.keywords
            and isinstance(it.args[0], ast.Constant)
            and isinstance(it.args[0].value, int)
            and not isinstance(it.args[0].value, bool)
        ):
            return False
        count = it.args[0].value
        if not 0 <= count <= MAX_ACTIONS:
            raise UnsupportedAction(f"line {node.lineno}: repeat at most {MAX_ACTIONS} times, not {count}")
        for _ in range(count):
            self.block(node.body, top=False)
        return True

    def special(self, code: str) -> None:
        if code == "DONE":
            self.add(Done())
        elif code == "FAIL":
            self.add(Fail(self.thought))
        else:
            self.add(Wait(WAIT_SECONDS))

    def call(self, node: ast.Call) -> None:
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            raise UnknownAction(
                f"line {node.lineno}: call functions as pyautogui.<name>(...), time.sleep(...) "
                "or computer.<name>(...)"
            )
        module, name = func.value.id, func.attr
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise UnsupportedAction(f"line {node.lineno}: write the arguments of {name} out, without * or **")
        args = list(node.args)
        kwargs = {str(k.arg): k.value for k in node.keywords}
        if module == "pyautogui":
            self.pyautogui(name, args, kwargs)
        elif module == "time" and name == "sleep":
            bound = _bind("sleep", ("secs",), args, kwargs)
            self.add(build("sleep", lambda: Wait(_value(bound.get("secs"), "sleep"))))
        elif module == "computer":
            self.computer(name, args, kwargs)
        else:
            raise UnknownAction(f"line {node.lineno}: {module}.{name} is not available")

    def point(self, name: str, bound: dict[str, ast.expr]) -> tuple[int, int]:
        x = _value(bound["x"], name) if "x" in bound else None
        y = _value(bound["y"], name) if "y" in bound else None
        if isinstance(x, list | tuple) and len(x) == 2 and y is None:
            x, y = x
        if x is None and y is None:
            return self.pointer.require(name, f"pass the coordinates: pyautogui.{name}(x, y)")
        if x is None or y is None:
            raise BadArgument(f"{name} needs both x and y", action=name)
        return self.space.to_screen(x, y, action=name)

    def pyautogui(self, name: str, args: list[ast.expr], kwargs: dict[str, ast.expr]) -> None:
        if name in _HINTS:
            raise UnsupportedAction(f"pyautogui.{name}: {_HINTS[name]}", action=None)
        if name not in _SIGNATURES:
            raise UnknownAction(f"pyautogui.{name} is not available", action=None)
        if name == "hotkey":
            unknown = sorted(set(kwargs) - _IGNORED)
            if unknown:
                raise BadArgument(f"hotkey takes no argument {', '.join(unknown)}", action=name)
            keys = [_value(a, name) for a in args]
            if len(keys) == 1 and isinstance(keys[0], list | tuple):
                keys = list(keys[0])
            self.add(keys_action(keys, name))
            return
        bound = _bind(name, _SIGNATURES[name], args, kwargs)
        if name in _CLICK_COUNTS:
            self.click(name, bound)
        elif name == "moveTo":
            x, y = self.point(name, bound)
            self.add(build(name, lambda: Move(x, y)))
        elif name == "dragTo":
            button = _value(bound["button"], name) if "button" in bound else "left"
            if not isinstance(button, str) or _BUTTONS.get(button) != "left":
                raise UnsupportedAction(
                    f"dragTo can only drag with the left button, not {button!r}", action=name
                )
            start = self.pointer.require(name, "move to the start first: pyautogui.moveTo(x1, y1)")
            end = self.point(name, bound)
            self.add(build(name, lambda: Drag(start[0], start[1], end[0], end[1])))
        elif name in ("scroll", "vscroll", "hscroll"):
            self.scroll(name, bound)
        elif name in ("write", "typewrite"):
            message = _value(bound.get("message"), name)
            if isinstance(message, list):
                for key in message:
                    self.add(keys_action([key], name))
            elif isinstance(message, str):
                self.add(build("write", lambda: TypeText(message)))
            else:
                raise BadArgument(f"{name} needs the text to type, got {message!r}", action="write")
        else:  # press
            self.press(bound)

    def click(self, name: str, bound: dict[str, ast.expr]) -> None:
        count = _CLICK_COUNTS[name]
        if "clicks" in bound:
            count = _value(bound["clicks"], name)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_CLICKS:
                raise BadArgument(f"clicks must be 1, 2 or 3, got {count!r}", action=name)
        button: Button = "left"
        if name == "rightClick":
            button = "right"
        elif name == "middleClick":
            button = "middle"
        if "button" in bound:
            raw = _value(bound["button"], name)
            found = _BUTTONS.get(raw) if isinstance(raw, str) else None
            if found is None:
                raise BadArgument(f"button must be 'left', 'right' or 'middle', got {raw!r}", action=name)
            button = found
        x, y = self.point(name, bound)
        self.add(build(name, lambda: Click(x, y, button, count)))

    def scroll(self, name: str, bound: dict[str, ast.expr]) -> None:
        clicks = _value(bound.get("clicks"), name)
        if isinstance(clicks, bool) or not isinstance(clicks, int | float) or clicks != clicks:
            raise BadArgument(f"{name} needs the number of notches, got {clicks!r}", action=name)
        if clicks == 0:
            raise BadArgument(f"{name}(0) does not scroll: use a positive or negative number", action=name)
        # Clamped: a request beyond MAX_SCROLL notches still means "scroll a lot that way".
        amount = MAX_SCROLL if abs(clicks) > MAX_SCROLL else max(1, round(abs(clicks)))
        direction: Direction
        if name == "hscroll":
            direction = "right" if clicks > 0 else "left"
        else:
            direction = "up" if clicks > 0 else "down"
        x, y = self.point(name, bound)
        self.add(build("scroll", lambda: Scroll(x, y, direction, amount)))

    def press(self, bound: dict[str, ast.expr]) -> None:
        keys = _value(bound.get("keys"), "press")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list | tuple) or not keys:
            raise BadArgument(f"press needs a key name, got {keys!r}", action="press")
        presses = _value(bound["presses"], "press") if "presses" in bound else 1
        if isinstance(presses, bool) or not isinstance(presses, int) or not 1 <= presses <= MAX_ACTIONS:
            raise BadArgument(
                f"presses must be a whole number from 1 to {MAX_ACTIONS}, got {presses!r}", action="press"
            )
        for _ in range(presses):
            for key in keys:
                self.add(keys_action([key], "press"))

    def computer(self, name: str, args: list[ast.expr], kwargs: dict[str, ast.expr]) -> None:
        if name == "terminate":
            bound = _bind(name, ("status", "answer"), args, kwargs)
            status = _value(bound.get("status"), name)
            answer = _value(bound.get("answer"), name)
            if answer is not None and not isinstance(answer, str):
                raise BadArgument(f"answer must be a string, got {answer!r}", action=name)
            if status == "success":
                self.add(Done(answer))
            elif status == "failure":
                self.add(Fail(answer or self.thought))
            else:
                raise BadArgument(f"status must be 'success' or 'failure', got {status!r}", action=name)
        elif name == "wait":
            _bind(name, (), args, kwargs)
            self.add(Wait(COMPUTER_WAIT_SECONDS))
        elif name == "triple_click":
            bound = _bind(name, ("x", "y"), args, kwargs)
            x, y = self.point("tripleClick", bound)
            self.add(build(name, lambda: Click(x, y, "left", 3)))
        else:
            raise UnknownAction(
                f"computer.{name} is not available; use terminate, wait or triple_click", action=None
            )


def _bind(
    name: str, params: tuple[str, ...], args: list[ast.expr], kwargs: dict[str, ast.expr]
) -> dict[str, ast.expr]:
    """Bind call arguments to ``params`` like Python would; drop the pacing ones. Values stay unevaluated."""
    if len(args) > len(params):
        raise BadArgument(
            f"{name} takes at most {len(params)} positional arguments, got {len(args)}", action=name
        )
    bound = dict(zip(params, args, strict=False))
    for key, value in kwargs.items():
        if key not in params:
            raise BadArgument(f"{name} takes no argument {key!r}", action=name)
        if key in bound:
            raise BadArgument(f"{name} got {key!r} twice", action=name)
        bound[key] = value
    return {k: v for k, v in bound.items() if k not in _IGNORED}


def _value(node: ast.expr | None, name: str) -> Any:
    """Return the literal value of an argument (None if absent); refuse variables and expressions."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, OverflowError):
        raise UnsupportedAction(
            f"the arguments of {name} must be literal numbers, strings or lists, "
            "not variables or expressions",
            action=name,
        ) from None


#: The default OSWorld pyautogui format (screen pixels).
PYAUTOGUI = PyAutoGUIFormat()
#: OpenCUA's relative convention: fractions of the screen.
PYAUTOGUI_RELATIVE = PyAutoGUIFormat(name="pyautogui-relative", relative=True)

__all__ = [
    "COMPUTER_WAIT_SECONDS",
    "PROMPT_TEMPLATE",
    "PYAUTOGUI",
    "PYAUTOGUI_RELATIVE",
    "SYNTAX",
    "WAIT_SECONDS",
    "PyAutoGUIFormat",
]
