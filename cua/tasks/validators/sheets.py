"""Checks of saved spreadsheets (cells, a whole sheet against an expected file, typed cells) and helpers.

``cells`` and ``table_equals`` read files through ``Context.sheet`` (``ssconvert`` in the sandbox):
displayed values, from A1. ``sheet`` reads the typed workbook (``book.read_book``): value types,
formulas and the file's real format, and compares the cells it does not list with the start's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.validators.base import Capture, Check, Context, NoBaseline, ValidatorVerdict, fail, ok
from cua.tasks.validators.book import (
    EMPTY,
    Book,
    Cell,
    as_number,
    cell_index,
    cell_ref,
    format_for_name,
    formula_ranges,
    read_book,
    same_format,
)
from cua.tasks.validators.fields import read_mapping, read_path

_CELL = re.compile(r"^([A-Za-z]{1,3})([1-9][0-9]{0,6})$")


def cell_value(rows: list[list[str]], ref: str) -> str:
    """Return the displayed value of a cell ('' when empty or outside the data)."""
    row, col = cell_index(ref)
    if row >= len(rows) or col >= len(rows[row]):
        return ""
    return rows[row][col]


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

    def paths(self) -> tuple[str, ...]:
        """Return the workbook judged."""
        return (self.path,)

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

    def paths(self) -> tuple[str, ...]:
        """Return the workbook judged."""
        return (self.path,)

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
                    diffs.append(f"{cell_ref(r, c)}={av!r} (expected {gv!r})")
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


def _sheet(value: Any, at: Where) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int) or (isinstance(value, int) and value < 0):
        raise at.error("a sheet index (0 is the first) or a sheet name", value)
    return value


def _tolerance(value: Any, at: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise at.error("a non-negative number", value)
    return float(value)


_OTHERS = ("unchanged", "empty", "any")
_SPEC_KEYS = ("value", "formula", "refs")
_RANGE = re.compile(r"^\$?[A-Za-z]{1,3}\$?[1-9][0-9]{0,6}(:\$?[A-Za-z]{1,3}\$?[1-9][0-9]{0,6})?$")


@dataclass(frozen=True)
class Sheet(Check):
    """Cells of a saved spreadsheet hold typed values and real formulas, and nothing else changed.

    Reads the workbook with ``book.read_book`` (value types and formulas, not only what is
    displayed). In ``cells``, a bare value is a plain (non-formula) cell of that type: a string
    is a text cell with exactly that text, a number a NUMBER cell (text '42' fails) within
    ``tolerance``, true/false a boolean, null an empty cell. A mapping
    ``{value: ..., formula: true|false, refs: [B2:B6, C1]}`` checks what it names: ``formula``
    whether the cell is a formula (default: not checked, true when ``refs`` is given), ``refs``
    that the formula references every cell of each listed range, ``value`` its displayed value.
    ``others``: ``unchanged`` (default; every unlisted cell of the sheet, and every other sheet,
    equals the start's, recorded by ``capture``), ``empty`` (every unlisted cell is empty) or
    ``any``. ``format``: the format the file's BYTES must be in (``book.detect_format``);
    default: the one its extension names. The score: the fraction of listed cells right, the
    others counting as one more; a file in the wrong format scores 0.
    """

    path: str
    cells: Mapping[str, Any]
    sheet: str | int = 0
    format: str | None = None
    others: str = "unchanged"
    tolerance: float = 1e-6
    kind: ClassVar[str] = "sheet"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        m = read_mapping(value, at, ["path", "cells"], ["sheet", "format", "others", "tolerance"])
        cells = m["cells"]
        if not isinstance(cells, dict) or not cells:
            raise at.at("cells").error("a mapping of cell references (A1) to expected contents", cells)
        for ref, spec in cells.items():
            if not isinstance(ref, str) or not _CELL.match(ref):
                raise at.at("cells").error("cell references such as B4", ref)
            _read_spec(spec, at.at("cells").at(ref))
        fmt = m.get("format")
        if fmt is not None and (not isinstance(fmt, str) or not fmt):
            raise at.at("format").error("a format name such as ods, xlsx, gnumeric, xls, csv", fmt)
        others = m.get("others", "unchanged")
        if others not in _OTHERS:
            raise at.at("others").error(f"one of {list(_OTHERS)}", others)
        tolerance = m.get("tolerance", 1e-6)
        if isinstance(tolerance, str):  # YAML reads 1e-6 as a string
            try:
                tolerance = float(tolerance)
            except ValueError:
                pass
        return cls(
            read_path(m["path"], at.at("path")),
            dict(cells),
            _sheet(m.get("sheet", 0), at.at("sheet")),
            fmt,
            others,
            _tolerance(tolerance, at.at("tolerance")),
        )

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"path": self.path, "cells": dict(self.cells)}
        if self.sheet != 0:
            data["sheet"] = self.sheet
        if self.format is not None:
            data["format"] = self.format
        if self.others != "unchanged":
            data["others"] = self.others
        if self.tolerance != 1e-6:
            data["tolerance"] = self.tolerance
        return data

    def paths(self) -> tuple[str, ...]:
        """Return the file this check judges."""
        return (self.path,)

    @property
    def key(self) -> str:
        """The key ``capture`` stores the starting workbook under."""
        return f"sheet:{self.path}"

    def capture(self, cap: Capture) -> None:
        """Record the workbook as the task starts (None: no such file), for ``others: unchanged``."""
        if self.others != "unchanged":
            return
        book = read_book(cap.sandbox, self.path)
        cap.put(self.key, None if book == f"{self.path} does not exist" else book)

    def expected_format(self) -> str | None:
        """Return the format the file must be in (None: not checked)."""
        return self.format if self.format is not None else format_for_name(self.path)

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Read the workbook, check its format, each listed cell and then the others."""
        label = f"sheet {self.path}"
        baseline: Book | str | None = None
        if self.others == "unchanged":
            try:
                baseline = ctx.captured(self.key)
            except NoBaseline as exc:
                return fail(f"{label}: others: unchanged needs the start's workbook, but {exc}")
        book = read_book(ctx.sandbox, self.path)
        if isinstance(book, str):
            return fail(f"{label}: {book}")
        expected_format = self.expected_format()
        if expected_format is not None and not same_format(book.format, expected_format):
            return fail(f"{label}: {self.path} is {_a(book.format)} file, expected {expected_format}")
        sheet = book.sheet(self.sheet)
        if sheet is None:
            names = [s.name for s in book.sheets]
            return fail(f"{label}: there is no sheet {self.sheet!r} (the sheets: {names})")
        wrong = []
        for ref, spec in self.cells.items():
            why = _judge(ref, sheet.cell(ref), spec, self.tolerance)
            if why is not None:
                wrong.append(why)
        listed = {cell_ref(*cell_index(ref)) for ref in self.cells}
        others = self._others(book, sheet.name, listed, baseline)
        total = len(self.cells) + (self.others != "any")
        right = len(self.cells) - len(wrong) + (self.others != "any" and not others)
        problems = wrong + others
        if not problems:
            return ok(f"{label}: {len(self.cells)} cells as expected, others {self.others}")
        shown = "; ".join(problems[:8]) + (f"; +{len(problems) - 8} more" if len(problems) > 8 else "")
        return fail(f"{label}: {right}/{total} right; {shown}", right / total)

    def _others(self, book: Book, name: str, listed: set[str], baseline: Book | str | None) -> list[str]:
        if self.others == "any":
            return []
        sheet = book.sheet(name)
        assert sheet is not None
        if self.others == "empty":
            return [
                f"{ref} is not empty: {cell.describe()}"
                for ref, cell in _ordered(sheet.cells)
                if ref not in listed
            ]
        if isinstance(baseline, str):
            return [f"the start's workbook could not be read ({baseline})"]
        before = baseline.sheet(self.sheet) if baseline is not None else None
        out = _diff(sheet.cells, before.cells if before is not None else {}, listed, "")
        if baseline is None:
            return out
        # Every other sheet must be as it was: matched by position, then by name.
        for index, old in enumerate(baseline.sheets):
            if old is before:
                continue
            new = book.sheets[index] if index < len(book.sheets) else None
            if new is None or new.name != old.name:
                new = book.sheet(old.name)
            if new is None:
                out.append(f"the sheet {old.name!r} is gone")
            else:
                out.extend(_diff(new.cells, old.cells, set(), f"{old.name}!"))
        known = {s.name for s in baseline.sheets}
        out.extend(f"a sheet {s.name!r} was added" for s in book.sheets if s.name not in known)
        return out


def _ordered(cells: Mapping[str, Cell]) -> list[tuple[str, Cell]]:
    return sorted(cells.items(), key=lambda item: cell_index(item[0]))


def _diff(now: Mapping[str, Cell], before: Mapping[str, Cell], skip: set[str], prefix: str) -> list[str]:
    out = []
    for ref in sorted(set(now) | set(before), key=cell_index):
        if ref in skip:
            continue
        new, old = now.get(ref, EMPTY), before.get(ref, EMPTY)
        if new != old:
            out.append(f"{prefix}{ref} changed: {new.describe()} (was {old.describe()})")
    return out


def _a(fmt: str) -> str:
    return f"an {fmt}" if fmt[:1] in "aeiou" or fmt in ("xlsx", "xls") else f"a {fmt}"


def _read_spec(spec: Any, at: Where) -> tuple[Any, bool | None, tuple[str, ...], bool]:
    """Return (value, formula, refs, has_value) of one cell's expectation; TaskSpecError if malformed."""
    if not isinstance(spec, dict):
        if isinstance(spec, list):
            raise at.error("a number, a string, true/false, null or {value, formula, refs}", spec)
        return spec, False, (), True
    extra = set(spec) - set(_SPEC_KEYS)
    if extra or not spec:
        raise at.error(f"a mapping with some of the keys {list(_SPEC_KEYS)}", sorted(spec))
    value = spec.get("value")
    if isinstance(value, dict | list):
        raise at.at("value").error("a number, a string, true/false or null", value)
    formula = spec.get("formula")
    if formula is not None and not isinstance(formula, bool):
        raise at.at("formula").error("true or false", formula)
    refs = spec.get("refs", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) and _RANGE.match(r) for r in refs):
        raise at.at("refs").error("a list of cells or ranges such as B2 or B2:B6", refs)
    if refs:
        if formula is False:
            raise at.at("refs").error("no refs on a cell that must not be a formula", refs)
        formula = True
    return value, formula, tuple(refs), "value" in spec


def _judge(ref: str, cell: Cell, spec: Any, tolerance: float) -> str | None:
    """Return why ``cell`` does not meet ``spec``; None when it does."""
    value, formula, refs, has_value = _read_spec(spec, Where("check"))
    if cell.formula is not None:
        row, col = cell_index(ref)
        if any(x0 <= row <= x1 and y0 <= col <= y1 for x0, y0, x1, y1 in formula_ranges(cell.formula)):
            # A circular reference is never the answer, even where iterative recalculation
            # happens to settle on the right number (Gnumeric does; Calc shows Err:522).
            return f"{ref}'s formula {cell.formula} references its own cell"
    if formula is False and cell.formula is not None:
        return f"{ref} is {cell.describe()}, expected a plain value" + (
            f" ({_expect(value)})" if has_value else ""
        )
    if formula is True and cell.formula is None:
        shown = "empty" if cell.type == "empty" else f"the value {cell.display}"
        return f"{ref} is {shown}, expected a formula"
    if has_value:
        why = _value_differs(cell, value, tolerance)
        if why is not None:
            return f"{ref} {why}, expected {_expect(value)}"
    if refs and cell.formula is not None:
        covered = formula_ranges(cell.formula)
        missing = []
        for want in refs:
            a, _, b = want.partition(":")
            (r0, c0), (r1, c1) = cell_index(a), cell_index(b or a)
            for r in range(min(r0, r1), max(r0, r1) + 1):
                for c in range(min(c0, c1), max(c0, c1) + 1):
                    if not any(x0 <= r <= x1 and y0 <= c <= y1 for x0, y0, x1, y1 in covered):
                        missing.append(cell_ref(r, c))
        if missing:
            shown = ", ".join(missing[:10]) + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else "")
            return f"{ref}'s formula {cell.formula} does not reference {shown}"
    return None


def _value_differs(cell: Cell, value: Any, tolerance: float) -> str | None:
    """Return how the cell differs from the expected value ("holds the text '42'"); None if equal."""
    held = "is empty" if cell.type == "empty" else f"holds {cell.describe()}"
    if value is None:
        return None if cell.type == "empty" else held
    if isinstance(value, bool):
        ok_ = cell.type == "bool" and cell.display.strip().upper() == str(value).upper()
        return None if ok_ else held
    if isinstance(value, int | float):
        number = as_number(cell.display) if cell.type == "number" else None
        if number is None and cell.type == "number":
            number = _loose_number(cell.display)
        if number is not None and math.isclose(number, float(value), rel_tol=0, abs_tol=tolerance):
            return None
        return held
    if cell.type == "text" and cell.display == str(value):
        return None
    return held


def _loose_number(display: str) -> float | None:
    text = display.strip().replace("$", "").replace("€", "").replace("£", "").strip()
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()")
    scale = 0.01 if text.endswith("%") else 1.0
    number = as_number(text.rstrip("%"))
    if number is None:
        return None
    return (-number if negative else number) * scale


def _expect(value: Any) -> str:
    if value is None:
        return "it empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).upper()}"
    if isinstance(value, int | float):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    return f"the text {str(value)!r}"
