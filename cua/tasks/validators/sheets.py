"""Checks of saved spreadsheets (cells, a whole sheet against an expected file) and cell helpers.

Files are read through ``Context.sheet`` (``ssconvert`` in the sandbox): displayed values, from A1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.validators.base import Check, Context, ValidatorVerdict, fail, ok
from cua.tasks.validators.fields import read_mapping, read_path

_CELL = re.compile(r"^([A-Za-z]{1,3})([1-9][0-9]{0,6})$")
_NUMBER = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][-+]?\d+)?$")


def cell_index(ref: str) -> tuple[int, int]:
    """Return (row, column), both from 0, of a cell reference such as ``B4``."""
    match = _CELL.match(ref)
    if match is None:
        raise ValueError(f"not a cell reference: {ref!r}")
    col = 0
    for ch in match.group(1).upper():
        col = col * 26 + (ord(ch) - 64)
    return int(match.group(2)) - 1, col - 1


def cell_value(rows: list[list[str]], ref: str) -> str:
    """Return the displayed value of a cell ('' when empty or outside the data)."""
    row, col = cell_index(ref)
    if row >= len(rows) or col >= len(rows[row]):
        return ""
    return rows[row][col]


def as_number(text: str) -> float | None:
    """Parse a displayed number ('1,234.5', '-3', '2E3'); None if it is not one."""
    text = text.strip()
    if not text or not _NUMBER.match(text) or not any(ch.isdigit() for ch in text):
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def same_cell(actual: str, expected: Any, tolerance: float) -> bool:
    """Compare a displayed cell with an expected value: numbers numerically, text exactly."""
    if expected is None or expected == "":
        return actual.strip() == ""
    if isinstance(expected, bool):
        return actual.strip().upper() == str(expected).upper()
    if isinstance(expected, int | float):
        number = as_number(actual)
        return number is not None and math.isclose(number, float(expected), rel_tol=0, abs_tol=tolerance)
    return actual.strip() == str(expected).strip()


@dataclass(frozen=True)
class Cells(Check):
    """Cells of a saved spreadsheet hold the expected values; the score is the fraction right."""

    path: str
    values: Mapping[str, Any]
    sheet: str | int = 0
    tolerance: float = 1e-6
    kind: ClassVar[str] = "cells"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        m = read_mapping(value, at, ["path", "values"], ["sheet", "tolerance"])
        values = m["values"]
        if not isinstance(values, dict) or not values:
            raise at.at("values").error("a mapping of cell references (A1) to values", values)
        for ref, expected in values.items():
            if not isinstance(ref, str) or not _CELL.match(ref):
                raise at.at("values").error("cell references such as B4", ref)
            if isinstance(expected, dict | list):
                raise at.at("values").at(ref).error("a number, a string, true/false or null", expected)
        return cls(
            read_path(m["path"], at.at("path")),
            dict(values),
            _sheet(m.get("sheet", 0), at.at("sheet")),
            _tolerance(m.get("tolerance", 1e-6), at.at("tolerance")),
        )

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Convert the file with ssconvert in the sandbox and compare each cell."""
        rows = ctx.sheet(self.path, self.sheet)
        label = f"cells of {self.path}"
        if isinstance(rows, str):
            return fail(f"{label}: {rows}")
        wrong = []
        for ref, expected in self.values.items():
            actual = cell_value(rows, ref)
            if not same_cell(actual, expected, self.tolerance):
                wrong.append(f"{ref}={actual!r} (expected {expected!r})")
        right = len(self.values) - len(wrong)
        if not wrong:
            return ok(f"{label}: {', '.join(f'{k}={v!r}' for k, v in self.values.items())}")
        return fail(
            f"{label}: {right}/{len(self.values)} right; {'; '.join(wrong)}", right / len(self.values)
        )

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"path": self.path, "values": dict(self.values)}
        if self.sheet != 0:
            data["sheet"] = self.sheet
        if self.tolerance != 1e-6:
            data["tolerance"] = self.tolerance
        return data


def _trim(rows: list[list[str]]) -> list[list[str]]:
    out = [list(r) for r in rows]
    for r in out:
        while r and r[-1].strip() == "":
            r.pop()
    while out and not out[-1]:
        out.pop()
    return out


@dataclass(frozen=True)
class TableEquals(Check):
    """A saved spreadsheet's sheet shows the same values as an expected file (on the host).

    Both files go through ssconvert in the sandbox; numbers compare within ``tolerance``.
    """

    path: str
    expected: str
    sheet: str | int = 0
    expected_sheet: str | int = 0
    tolerance: float = 1e-6
    kind: ClassVar[str] = "table_equals"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        m = read_mapping(value, at, ["path", "expected"], ["sheet", "expected_sheet", "tolerance"])
        return cls(
            read_path(m["path"], at.at("path")),
            read_path(m["expected"], at.at("expected")),
            _sheet(m.get("sheet", 0), at.at("sheet")),
            _sheet(m.get("expected_sheet", 0), at.at("expected_sheet")),
            _tolerance(m.get("tolerance", 1e-6), at.at("tolerance")),
        )

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Compare every cell of the two sheets."""
        label = f"{self.path} matches {Path(self.expected).name}"
        expected = ctx.host_path(self.expected)
        try:
            gold_bytes = expected.read_bytes()
        except OSError as exc:
            return fail(f"{label}: cannot read the expected file {expected} ({exc.strerror})")
        actual = ctx.sheet(self.path, self.sheet)
        if isinstance(actual, str):
            return fail(f"{label}: {actual}")
        gold = ctx.sheet(Path(self.expected).name, self.expected_sheet, upload=gold_bytes)
        if isinstance(gold, str):
            return fail(f"{label}: expected file: {gold}")
        a, g = _trim(actual), _trim(gold)
        diffs = []
        for r in range(max(len(a), len(g))):
            arow = a[r] if r < len(a) else []
            grow = g[r] if r < len(g) else []
            for c in range(max(len(arow), len(grow))):
                av = arow[c] if c < len(arow) else ""
                gv = grow[c] if c < len(grow) else ""
                gnum = as_number(gv)
                same = same_cell(av, gnum if gnum is not None else gv, self.tolerance)
                if not same:
                    diffs.append(f"{_ref(r, c)}={av!r} (expected {gv!r})")
        if not diffs:
            return ok(label)
        shown = "; ".join(diffs[:5]) + (f"; +{len(diffs) - 5} more" if len(diffs) > 5 else "")
        return fail(f"{label}: {len(diffs)} cells differ: {shown}")

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"path": self.path, "expected": self.expected}
        if self.sheet != 0:
            data["sheet"] = self.sheet
        if self.expected_sheet != 0:
            data["expected_sheet"] = self.expected_sheet
        return data


def _ref(row: int, col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


def _sheet(value: Any, at: Where) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int) or (isinstance(value, int) and value < 0):
        raise at.error("a sheet index (0 is the first) or a sheet name", value)
    return value


def _tolerance(value: Any, at: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise at.error("a non-negative number", value)
    return float(value)
