"""Errors of the task layer, and ``Where``: the place in a task file an error is about.

The whole tree is drawn in ``cua.errors``: ``CuaError > TaskError > TaskSpecError | UnknownTask |
OracleFailed``. A ``TaskSpecError`` message names the file, the field and what was expected there;
an ``OracleFailed`` one names the step and what the screen showed.

A validator never raises for a wrong outcome: it returns a low score with reasons. It raises
only for a broken spec (``TaskSpecError``) or a broken sandbox (``SandboxError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cua.errors import CuaError


class TaskError(CuaError):
    """Base class of the task layer's errors."""


class TaskSpecError(TaskError):
    """A task file does not follow the format; the message says where and what was expected."""


class UnknownTask(TaskError):
    """No task or family has the requested id."""


class OracleFailed(TaskError):
    """An oracle step could not be carried out on the live screen."""


@dataclass(frozen=True)
class Where:
    """A position in a task file: the file and the dotted field path, for error messages."""

    source: str
    field: str = ""

    def at(self, key: str | int) -> Where:
        """Return the position of a child field (a key, or a list index)."""
        if isinstance(key, int):
            return Where(self.source, f"{self.field}[{key}]")
        return Where(self.source, f"{self.field}.{key}" if self.field else key)

    def error(self, expected: str, got: Any = None, *, show_got: bool = True) -> TaskSpecError:
        """Build the error for this field: ``FILE: field 'a.b': expected X, got Y``."""
        where = f"field '{self.field}'" if self.field else "top level"
        shown = f", got {_short(got)}" if show_got else ""
        return TaskSpecError(f"{self.source}: {where}: expected {expected}{shown}")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def source_name(path: Path | str | None) -> str:
    """Return how a file is named in messages (``<inline>`` for data built in code)."""
    return str(path) if path is not None else "<inline>"
