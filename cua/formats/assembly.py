"""Turning a model reply into typed actions: the parse every format shares, and its parts.

:class:`ReplyFormat` is the one ``parse`` skeleton: check the text, split it into the thought and
the action part, read the actions while tracking the pointer, merge and limit them, and stamp any
:class:`ParseError` with the format's name and expected syntax. A format supplies only how its
replies split, how its action part reads and what syntax to show (and, for ``render``, how it
writes actions once their coordinates are mapped). The helpers below are what the
formats share once they have pulled names and arguments out of the text: building an action while
turning an invalid field into :class:`BadArgument`, key names, the pointer (several formats act
"at the current pointer position"), folding a move into the pointer action that follows it, and
the size limits that keep a hostile output cheap to parse.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Sequence
from typing import ClassVar, Generic, TypeVar

from cua.actions import (
    Action,
    ActionError,
    Click,
    Done,
    Drag,
    Hotkey,
    Key,
    Move,
    Scroll,
    pointer_after,
)
from cua.formats.errors import BadArgument, NoAction, ParseError, UnsupportedAction
from cua.formats.geometry import CoordinateSpace
from cua.formats.protocol import ParsedOutput

#: Longest model output a parser reads; longer text is refused before any parsing.
MAX_OUTPUT_CHARS = 200_000
#: Most actions one output may produce (a repeat count or loop cannot exceed it).
MAX_ACTIONS = 50

#: Special tokens some servers leave at the end of a completion.
_END_TOKENS = re.compile(r"<\|im_end\|>|<\|endoftext\|>|<\|end\|>|</s>|\[EOS\]")

A = TypeVar("A", bound=Action)
#: What a format's reply holds besides the thought (the action line, the code, the tool calls).
Part = TypeVar("Part")


def check_text(text: object) -> str:
    """Return the model output with trailing end-of-text tokens removed; refuse non-text and huge text."""
    if not isinstance(text, str):
        raise NoAction(f"the model output is not text but {type(text).__name__}")
    if len(text) > MAX_OUTPUT_CHARS:
        raise NoAction(f"the reply is {len(text)} characters long; keep it under {MAX_OUTPUT_CHARS}")
    return _END_TOKENS.sub("", text)


def build(action: str, make: Callable[[], A]) -> A:
    """Return ``make()``, turning an ActionError (an invalid field) into BadArgument."""
    try:
        return make()
    except ActionError as exc:
        raise BadArgument(str(exc), action=action) from exc


def keys_action(names: Sequence[object], action: str) -> Key | Hotkey:
    """Return Key for one key name and Hotkey for several; BadArgument for bad or no names."""
    if not names:
        raise BadArgument("no key was given", action=action)
    if not all(isinstance(n, str) for n in names):
        raise BadArgument(f"key names must be strings, got {list(names)!r}", action=action)
    if len(names) == 1:
        return build(action, lambda: Key(str(names[0])))
    return build(action, lambda: Hotkey(tuple(str(n) for n in names)))


def split_keys(spec: str) -> list[str]:
    """Split a key combination written as text: ``'ctrl c'``, ``'ctrl+c'`` or ``'ctrl shift +'``."""
    parts = spec.split()
    if len(parts) == 1 and len(parts[0]) > 1 and "+" in parts[0]:
        token = parts[0]
        tail = ["+"] if token.endswith("++") else []
        head = token[:-2] if tail else token
        parts = [p for p in head.split("+") if p] + tail
    return parts


class Pointer:
    """Where the mouse pointer is while a parser walks one output's actions (None: unknown).

    Starts at the position the caller knows from the previous step and follows each action.
    """

    def __init__(self, start: tuple[int, int] | None) -> None:
        self.position = start

    def require(self, action: str, hint: str) -> tuple[int, int]:
        """Return the pointer position, or raise BadArgument saying coordinates are needed."""
        if self.position is None:
            raise BadArgument(
                f"{action} has no coordinates and the pointer position is unknown; {hint}", action=action
            )
        return self.position

    def follow(self, action: Action) -> None:
        """Update the position after ``action``."""
        self.position = pointer_after(action, self.position)


def _starts_at(action: Action) -> tuple[int, int] | None:
    if isinstance(action, Click | Drag | Scroll | Move):
        return (action.x, action.y)
    return None


def merge(actions: Sequence[Action]) -> list[Action]:
    """Fold redundant steps: a Move right before a pointer action at the same point, and an answer.

    A move to where the next click, drag or scroll starts changes nothing (that action moves there
    itself), and formats whose drag starts "at the pointer" need one. ``Done(answer)`` followed by
    a bare ``Done()`` (Qwen's ``answer`` then ``terminate``) is one completion carrying the answer.
    """
    out: list[Action] = []
    for action in actions:
        if out and isinstance(out[-1], Move) and _starts_at(action) == (out[-1].x, out[-1].y):
            out.pop()
        if out and isinstance(out[-1], Done) and out[-1].answer is not None and action == Done():
            continue
        out.append(action)
    return out


def finish(actions: Sequence[Action], empty: str) -> list[Action]:
    """Return the merged actions; NoAction with ``empty`` as the problem if there are none."""
    if not actions:
        raise NoAction(empty)
    merged = merge(actions)
    if len(merged) > MAX_ACTIONS:
        raise UnsupportedAction(
            f"the reply asks for {len(merged)} actions; give at most {MAX_ACTIONS} at once"
        )
    return merged


def fill_in(error: ParseError, format_name: str, expected: Callable[[str | None], str]) -> ParseError:
    """Stamp ``error`` with the format's name and, if it has none, the expected syntax for its action."""
    error.format_name = format_name
    if not error.expected:
        error.expected = expected(error.action)
    return error


class ReplyFormat(abc.ABC, Generic[Part]):
    """The ``parse`` and ``render`` of :class:`~cua.formats.protocol.OutputFormat`, written once.

    A format (a frozen dataclass with a ``name``) subclasses it and supplies ``coordinate_space``,
    ``split_reply``, ``read_actions``, ``expected_syntax`` and ``EMPTY_REPLY``, and ``write_reply``
    for ``render``.
    """

    name: str
    #: The problem reported when the action part holds no action.
    EMPTY_REPLY: ClassVar[str]

    @abc.abstractmethod
    def coordinate_space(self, screen: tuple[int, int], image_size: tuple[int, int]) -> CoordinateSpace:
        """Return the model's coordinate space mapped onto ``screen``."""

    @abc.abstractmethod
    def split_reply(self, body: str) -> tuple[str, Part]:
        """Return (thought, action part) of a reply; NoAction when it has no action part."""

    @abc.abstractmethod
    def read_actions(
        self, part: Part, space: CoordinateSpace, pointer: Pointer, thought: str
    ) -> list[Action]:
        """Return the actions of the action part in order, following ``pointer`` after each."""

    @abc.abstractmethod
    def expected_syntax(self, action: str | None) -> str:
        """Return the syntax the error feedback shows for ``action`` (None: any action)."""

    def parse(
        self,
        text: str,
        screen: tuple[int, int],
        image_size: tuple[int, int],
        *,
        pointer: tuple[int, int] | None = None,
    ) -> ParsedOutput:
        """Parse one reply into actions with screen coordinates; see the protocol for errors."""
        space = self.coordinate_space(screen, image_size)
        try:
            thought, part = self.split_reply(check_text(text))
            actions = self.read_actions(part, space, Pointer(pointer), thought)
            return ParsedOutput(thought, finish(actions, self.EMPTY_REPLY), text)
        except ParseError as exc:
            raise fill_in(exc, self.name, self.expected_syntax) from None

    @abc.abstractmethod
    def write_reply(self, actions: Sequence[Action], space: CoordinateSpace, thought: str) -> str:
        """Write ``actions`` (screen pixels, mapped through ``space``) as a reply with ``thought``."""

    def render(
        self,
        actions: Sequence[Action],
        screen: tuple[int, int],
        image_size: tuple[int, int],
        *,
        thought: str = "",
    ) -> str:
        """Write ``actions`` as a reply in this format; RenderError for an action it cannot express."""
        return self.write_reply(actions, self.coordinate_space(screen, image_size), thought)


__all__ = [
    "MAX_ACTIONS",
    "MAX_OUTPUT_CHARS",
    "Pointer",
    "ReplyFormat",
    "build",
    "check_text",
    "fill_in",
    "finish",
    "keys_action",
    "merge",
    "split_keys",
]
