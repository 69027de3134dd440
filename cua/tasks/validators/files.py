"""Checks of files in the sandbox: existence, absence, text and a value in a JSON file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.validators.base import Check, Context, ValidatorVerdict, fail, ok, quote
from cua.tasks.validators.fields import TEXT_OPS, compare_text, read_mapping, read_one_op, read_path, read_str


@dataclass(frozen=True)
class FileExists(Check):
    """A path exists (as a file, a folder, or either)."""

    path: str
    type: str = "any"
    kind: ClassVar[str] = "file_exists"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        if not isinstance(value, dict):
            return cls(read_path(value, at))
        m = read_mapping(value, at, ["path"], ["type"])
        kind = m.get("type", "any")
        if kind not in ("any", "file", "dir"):
            raise at.at("type").error("one of 'any', 'file', 'dir'", kind)
        return cls(read_path(m["path"], at.at("path")), kind)

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Ask the sandbox with ``test``."""
        flag = {"any": "-e", "file": "-f", "dir": "-d"}[self.type]
        what = {"any": "exists", "file": "is a file", "dir": "is a folder"}[self.type]
        if ctx.sandbox.exec(["test", flag, self.path], timeout_s=10).ok:
            return ok(f"{self.path} {what}")
        return fail(f"{self.path} {what}: no")

    def paths(self) -> tuple[str, ...]:
        """Return the path judged."""
        return (self.path,)

    def to_json(self) -> Any:
        """Return the path, or the path and type."""
        return self.path if self.type == "any" else {"path": self.path, "type": self.type}


@dataclass(frozen=True)
class FileAbsent(Check):
    """Nothing exists at a path."""

    path: str
    kind: ClassVar[str] = "file_absent"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        if isinstance(value, dict):
            return cls(read_path(read_mapping(value, at, ["path"], [])["path"], at.at("path")))
        return cls(read_path(value, at))

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Ask the sandbox with ``test -e``."""
        present = ctx.sandbox.exec(["test", "-e", self.path], timeout_s=10).ok
        return fail(f"{self.path} is absent: it exists") if present else ok(f"{self.path} is absent")

    def paths(self) -> tuple[str, ...]:
        """Return the path judged."""
        return (self.path,)

    def to_json(self) -> Any:
        """Return the path."""
        return self.path


#: How ``file_text`` normalises both texts before comparing (``normalize:``).
NORMALIZE = ("newline", "none", "whitespace")


def normalize_text(text: str, how: str) -> str:
    """Return ``text`` normalised as ``how`` says.

    ``newline`` drops one final line break (and CRLF line ends become LF), ``none`` keeps every
    byte, ``whitespace`` also strips both ends and each line's trailing spaces (for a family
    whose instruction leaves spacing open).
    """
    if how == "none":
        return text
    text = text.replace("\r\n", "\n")
    if how == "whitespace":
        return "\n".join(line.rstrip() for line in text.strip().splitlines())
    return text[:-1] if text.endswith("\n") else text


@dataclass(frozen=True)
class FileText(Check):
    """A text file's whole content equals / contains / does not contain / matches a value.

    ``matches`` is a regex over the whole text. Both sides are normalised first (``normalize``,
    default ``newline``: one final line break does not matter, nothing else is forgiven; see
    ``normalize_text``).
    """

    path: str
    op: str
    value: str
    normalize: str = "newline"
    kind: ClassVar[str] = "file_text"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        m = read_mapping(value, at, ["path"], [*TEXT_OPS, "normalize"])
        op, text = read_one_op(m, at, TEXT_OPS)
        how = m.get("normalize", "newline")
        if how not in NORMALIZE:
            raise at.at("normalize").error(f"one of {list(NORMALIZE)}", how)
        return cls(read_path(m["path"], at.at("path")), op, text, how)

    def paths(self) -> tuple[str, ...]:
        """Return the file judged."""
        return (self.path,)

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Read the file and compare."""
        text = ctx.read_text(self.path)
        label = f"{self.path} {self.op.replace('_', ' ')} {quote(self.value)}"
        if text is None:
            return fail(f"{label}: the file does not exist")
        actual = normalize_text(text, self.normalize)
        expected = normalize_text(self.value, self.normalize) if self.op in ("equals",) else self.value
        if compare_text(actual, self.op, expected):
            return ok(label)
        return fail(f"{label}: it holds {quote(text)}")

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"path": self.path, self.op: self.value}
        if self.normalize != "newline":
            data["normalize"] = self.normalize
        return data


_JSON_STEP = re.compile(r"\.?([^.\[\]]+)|\[(-?\d+)\]")


def json_query(doc: Any, query: str) -> Any:
    """Follow ``a.b[0].c`` through parsed JSON; raise KeyError/IndexError/TypeError if absent."""
    pos = 0
    value = doc
    while pos < len(query):
        match = _JSON_STEP.match(query, pos)
        if match is None:
            raise KeyError(f"bad query syntax at {query[pos:]!r}")
        key, index = match.group(1), match.group(2)
        if index is not None:
            if not isinstance(value, list):
                raise TypeError(f"not a list before [{index}]")
            value = value[int(index)]
        else:
            if not isinstance(value, dict):
                raise TypeError(f"not an object before .{key}")
            value = value[key]
        pos = match.end()
    return value


@dataclass(frozen=True)
class JsonPath(Check):
    """The value at a path in a JSON file equals the expected value."""

    path: str
    query: str
    equals: Any
    kind: ClassVar[str] = "json_path"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        m = read_mapping(value, at, ["path", "query", "equals"], [])
        query = read_str(m["query"], at.at("query"), "a query such as 'a.b[0]'")
        return cls(read_path(m["path"], at.at("path")), query, m["equals"])

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Parse the file and follow the query."""
        label = f"{self.path}:{self.query} == {self.equals!r}"
        text = ctx.read_text(self.path)
        if text is None:
            return fail(f"{label}: the file does not exist")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            return fail(f"{label}: not valid JSON ({exc.msg} at line {exc.lineno})")
        try:
            value = json_query(doc, self.query)
        except (KeyError, IndexError, TypeError) as exc:
            return fail(f"{label}: no such value ({exc})")
        return ok(label) if value == self.equals else fail(f"{label}: it is {value!r}")

    def paths(self) -> tuple[str, ...]:
        """Return the file judged."""
        return (self.path,)

    def to_json(self) -> Any:
        """Return the mapping form."""
        return {"path": self.path, "query": self.query, "equals": self.equals}
