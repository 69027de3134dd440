"""What several checks share in their fields: text comparisons, and readers of task-file values.

A reader returns the value or raises the TaskSpecError of ``Where.error``, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cua.tasks.errors import Where

TEXT_OPS = ("equals", "contains", "not_contains", "matches")


def compare_text(actual: str, op: str, expected: str) -> bool:
    """Return whether ``actual`` satisfies ``op`` (one of TEXT_OPS).

    ``matches`` is a regular expression over the WHOLE text (``re.fullmatch``; ``.`` does not
    cross lines): a pattern that one line of a longer text satisfies does not match.
    """
    if op == "equals":
        return actual == expected
    if op == "contains":
        return expected in actual
    if op == "not_contains":
        return expected not in actual
    return re.fullmatch(expected, actual) is not None


def read_mapping(value: Any, at: Where, required: Sequence[str], optional: Sequence[str]) -> dict[str, Any]:
    """Return ``value`` if it is a mapping with the ``required`` keys and only ``optional`` others."""
    if not isinstance(value, dict):
        raise at.error(f"a mapping with {', '.join(required)}", value)
    missing = [k for k in required if k not in value]
    if missing:
        raise at.error(f"the key(s) {missing}", sorted(value))
    extra = set(value) - set(required) - set(optional)
    if extra:
        raise at.error(f"only the keys {sorted([*required, *optional])}", sorted(extra))
    return value


def read_str(value: Any, at: Where, what: str = "a string") -> str:
    """Return a string, number-like scalars as text; ``what`` names the expected value in errors."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise at.error(what, value)
    return str(value)


def read_path(value: Any, at: Where) -> str:
    """Return a non-empty path inside the sandbox."""
    path = read_str(value, at, "a file path (relative paths are under the sandbox's HOME)")
    if not path:
        raise at.error("a non-empty path", value)
    return path


def read_one_op(value: dict[str, Any], at: Where, ops: Sequence[str], prefix: str = "") -> tuple[str, str]:
    """Return (op, text) of the one key among ``prefix + op``; a ``matches`` regex must compile."""
    found = [op for op in ops if prefix + op in value]
    if len(found) != 1:
        raise at.error(f"exactly one of {[prefix + op for op in ops]}", sorted(value))
    op = found[0]
    text = read_str(value[prefix + op], at.at(prefix + op))
    if op == "matches":
        try:
            re.compile(text)
        except re.error as exc:
            raise at.at(prefix + op).error(f"a valid regular expression ({exc})", text) from None
    return op, text


def read_text_op(value: Any, at: Where, bare: str) -> tuple[str, str]:
    """Return (op, text) of ``{op: text}`` (one of TEXT_OPS); a bare string means ``{bare: string}``."""
    if isinstance(value, str):
        value = {bare: value}
    return read_one_op(read_mapping(value, at, [], TEXT_OPS), at, TEXT_OPS)
