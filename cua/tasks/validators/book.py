"""A typed workbook model (value types, formulas, displayed text) and its readers.

``read_book`` converts a spreadsheet inside the sandbox with Gnumeric's ``ssconvert`` (one
exec: the Gnumeric XML of the whole workbook and the CSV of each sheet's displayed values, see
``ssconvert.py``) and parses the XML here. Whatever format the file was saved in (.ods, .xlsx,
.xls, .gnumeric, .csv), formulas come out in Gnumeric's syntax (``=SUM(B2:B6)``, a sheet
qualifier as ``Sheet2!A1``, function names upper-cased here: Gnumeric's XML writes them in
lower case), so one code path reads them all. ``detect_format`` tells the
format from the file's bytes, never its name: an .xlsx saved under an .ods name is an xlsx.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from cua.tasks.validators.ssconvert import convert_book
from sandbox.base import Sandbox

CellType = Literal["number", "text", "bool", "error", "empty"]

_GNM = "{http://www.gnumeric.org/v10.dtd}"
_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?([1-9][0-9]{0,6})$")
_NUMBER = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][-+]?\d+)?$")
_ERRORS = {"#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#N/A", "#NUM!", "#NULL!", "#UNKNOWN!"}
#: Gnumeric's ValueType codes (value.h): 10 empty, 20 boolean, 30 integer, 40 float, 50 error,
#: 60 string, 70 cellrange, 80 array.
_VALUE_TYPES: dict[str, CellType] = {
    "10": "empty",
    "20": "bool",
    "30": "number",
    "40": "number",
    "50": "error",
}
#: The last row and column (from 0) a whole-column / whole-row reference reaches.
MAX_ROW, MAX_COL = 1_048_575, 16_383
#: The most cells ``formula_refs`` expands one range to; larger ranges are left out.
MAX_EXPAND = 100_000

_ODF = {
    "text": "odt",
    "spreadsheet": "ods",
    "presentation": "odp",
    "graphics": "odg",
    "chart": "odc",
    "formula": "odf",
    "database": "odb",
    "image": "odi",
    "text-master": "odm",
}
_NAMES = {".ods": "ods", ".xlsx": "xlsx", ".gnumeric": "gnumeric", ".xls": "xls", ".csv": "csv"}


# -- formats --------------------------------------------------------------------------------------
def detect_format(data: bytes) -> str:
    """Return a file's format from its bytes (never its name).

    'ods' (other OpenDocument types: their short name, 'odt', 'odp'...), 'xlsx' (other Office
    Open XML: 'ooxml'), 'zip' (a zip that is neither), 'gnumeric' (gzipped Gnumeric XML, what
    Gnumeric saves), 'gnumeric-xml' (the same, uncompressed), 'gzip' (other gzip), 'xls' (an
    OLE2 compound file), 'empty' (no bytes), 'csv' (any UTF-8 text without NUL bytes), else
    'unknown'.
    """
    if not data:
        return "empty"
    if data.startswith(b"PK\x03\x04"):
        return _zip_format(data)
    if data.startswith(b"\x1f\x8b"):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 4096)
        except zlib.error:
            return "unknown"
        return "gnumeric" if _is_gnumeric_xml(head) else "gzip"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    if _is_gnumeric_xml(data[:4096]):
        return "gnumeric-xml"
    if b"\0" in data:
        return "unknown"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown"
    return "csv"


def _zip_format(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if "mimetype" in names:
                with z.open("mimetype") as f:
                    mime = f.read(200).decode("ascii", "replace").strip()
                prefix = "application/vnd.oasis.opendocument."
                if not mime.startswith(prefix):
                    return "zip"
                kind = mime[len(prefix) :]
                template = kind.endswith("-template")
                short = _ODF.get(kind.removesuffix("-template"), "odf")
                return "ot" + short[2:] if template else short
            if "[Content_Types].xml" in names:
                with z.open("[Content_Types].xml") as f:
                    types = f.read(1_000_000)
                return "xlsx" if b"spreadsheetml" in types else "ooxml"
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError):
        return "unknown"
    return "zip"


def _is_gnumeric_xml(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml"):
        end = text.find(b"?>")
        if end < 0:
            return False
        text = text[end + 2 :].lstrip()
    return re.match(rb"<(\w+:)?Workbook\b", text) is not None and b"gnumeric.org" in text[:1000]


def format_for_name(path: str) -> str | None:
    """Return the format a file's extension names (.ods, .xlsx, .gnumeric, .xls, .csv); None if other."""
    return _NAMES.get(PurePosixPath(path).suffix.lower())


def same_format(actual: str, expected: str) -> bool:
    """Return whether a detected format is the expected one (Gnumeric's XML counts, gzipped or not)."""
    return actual == expected or {actual, expected} == {"gnumeric", "gnumeric-xml"}


# -- references -----------------------------------------------------------------------------------
def cell_index(ref: str) -> tuple[int, int]:
    """Return (row, column), both from 0, of a cell reference such as ``B4`` (``$B$4`` too)."""
    match = _CELL.match(ref)
    if match is None:
        raise ValueError(f"not a cell reference: {ref!r}")
    col = 0
    for ch in match.group(1).upper():
        col = col * 26 + (ord(ch) - 64)
    return int(match.group(2)) - 1, col - 1


def cell_ref(row: int, col: int) -> str:
    """Return the A1 reference of (row, column), both from 0."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


def _col_index(letters: str) -> int:
    col = 0
    for ch in letters.upper():
        col = col * 26 + (ord(ch) - 64)
    return col - 1


_REF = r"\$?[A-Za-z]{1,3}\$?[0-9]{1,7}"
_COL = r"\$?[A-Za-z]{1,3}"
# Quoted text (strings, quoted sheet names) is skipped; a ref is not part of a longer name, not a
# function name (followed by '('), not a sheet name (followed by '!' or '.').
_TOKENS = re.compile(
    r"""(?P<quoted>"(?:[^"]|"")*"|'(?:[^']|'')*')"""
    rf"|(?<![A-Za-z0-9_$])(?P<range>{_REF}:{_REF})(?![A-Za-z0-9_(!.])"
    rf"|(?<![A-Za-z0-9_$])(?P<cols>{_COL}:{_COL})(?![A-Za-z0-9_(!.])"
    rf"|(?<![A-Za-z0-9_$])(?P<ref>{_REF})(?![A-Za-z0-9_(!.:])"
)
_PARTS = re.compile(r"^(\$?)([A-Za-z]{1,3})(\$?)([0-9]+)$")


def formula_ranges(formula: str) -> list[tuple[int, int, int, int]]:
    """Return every rectangle a formula references: (row0, col0, row1, col1), from 0, inclusive.

    A single cell is a 1x1 rectangle; ``B:B`` is the whole column. Sheet qualifiers
    (``Sheet2!A1``, ``'My sheet'!A1``, ``Sheet2.A1``) are ignored: the cell counts as if it
    were on the formula's own sheet. Row ranges (``1:3``) and defined names are not references
    here.
    """
    out = []
    for m in _TOKENS.finditer(formula):
        if m.group("range"):
            a, b = m.group("range").split(":")
            (r0, c0), (r1, c1) = cell_index(a), cell_index(b)
            out.append((min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1)))
        elif m.group("cols"):
            a, b = (_col_index(x.lstrip("$")) for x in m.group("cols").split(":"))
            out.append((0, min(a, b), MAX_ROW, max(a, b)))
        elif m.group("ref"):
            r, c = cell_index(m.group("ref"))
            out.append((r, c, r, c))
    return out


def formula_refs(formula: str) -> set[str]:
    """Return every single cell a formula references, in A1 form, ranges expanded.

    ``=SUM(B2:B4)+$C$1`` -> {B2, B3, B4, C1}. Function names (``LOG10(``) are not references.
    Sheet qualifiers are ignored (see ``formula_ranges``); a range of more than MAX_EXPAND
    cells (a whole column) is left out: use ``formula_ranges`` for those.
    """
    refs: set[str] = set()
    for r0, c0, r1, c1 in formula_ranges(formula):
        if (r1 - r0 + 1) * (c1 - c0 + 1) > MAX_EXPAND:
            continue
        refs.update(cell_ref(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1))
    return refs


_FUNCTION = re.compile(
    r"""("(?:[^"]|"")*"|'(?:[^']|'')*')|(?<![A-Za-z0-9_.$])([A-Za-z_][A-Za-z0-9_.]*)(?=\()"""
)


def upper_functions(formula: str) -> str:
    """Return ``formula`` with its function names upper-cased (Gnumeric's XML writes ``=sum(...)``)."""
    return _FUNCTION.sub(lambda m: m.group(1) or m.group(2).upper(), formula)


def shift_formula(formula: str, rows: int, cols: int) -> str:
    """Return ``formula`` moved by (rows, cols): relative references shift, $-anchored parts stay."""

    def move(ref: str) -> str:
        m = _PARTS.match(ref)
        if m is None:
            return ref
        cabs, letters, rabs, digits = m.groups()
        col = _col_index(letters) + (0 if cabs else cols)
        row = int(digits) - 1 + (0 if rabs else rows)
        if row < 0 or col < 0:
            return "#REF!"
        name = cell_ref(0, col)[:-1]
        return f"{cabs}{name}{rabs}{row + 1}"

    def move_col(ref: str) -> str:
        if ref.startswith("$"):
            return ref
        col = _col_index(ref) + cols
        return cell_ref(0, col)[:-1] if col >= 0 else "#REF!"

    def token(m: re.Match[str]) -> str:
        if m.group("range"):
            return ":".join(move(x) for x in m.group("range").split(":"))
        if m.group("cols"):
            return ":".join(move_col(x) for x in m.group("cols").split(":"))
        if m.group("ref"):
            return move(m.group("ref"))
        return m.group(0)

    return _TOKENS.sub(token, formula)


# -- the model ------------------------------------------------------------------------------------
def as_number(text: str) -> float | None:
    """Parse a displayed number ('1,234.5', '-3', '2E3'); None if it is not one."""
    text = text.strip()
    if not text or not _NUMBER.match(text) or not any(ch.isdigit() for ch in text):
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def display_type(display: str) -> CellType:
    """Return the type a displayed value shows (for a formula's result)."""
    text = display.strip()
    if not text:
        return "text" if display else "empty"
    if text.upper() in ("TRUE", "FALSE"):
        return "bool"
    if text.upper() in _ERRORS:
        return "error"
    shown = text.replace("%", "").replace("$", "").replace("€", "").replace("£", "").strip()
    if shown.startswith("(") and shown.endswith(")"):
        shown = shown[1:-1]
    return "number" if as_number(shown) is not None else "text"


@dataclass(frozen=True)
class Cell:
    """One cell: its value as displayed (the CSV export), its type, and its formula if it has one."""

    display: str
    type: CellType
    formula: str | None = None

    def describe(self) -> str:
        """Return the cell in words, for a reason: "the number 42", "the formula =B2+B3 (showing '5')"."""
        if self.formula is not None:
            return f"the formula {self.formula} (showing {self.display!r})"
        if self.type == "empty":
            return "empty"
        if self.type == "text":
            return f"the text {self.display!r}"
        if self.type == "bool":
            return f"the boolean {self.display}"
        return f"the {self.type} {self.display}"


EMPTY = Cell("", "empty")


@dataclass(frozen=True)
class Sheet:
    """One sheet: its non-empty cells by A1 reference."""

    name: str
    cells: dict[str, Cell] = field(default_factory=dict)

    def cell(self, ref: str) -> Cell:
        """Return a cell by reference (``$B$2`` too); EMPTY when it holds nothing."""
        row, col = cell_index(ref)
        return self.cells.get(cell_ref(row, col), EMPTY)

    def used(self) -> str | None:
        """Return the used range, from A1 to the last used row and column ("A1:C7"); None if empty."""
        if not self.cells:
            return None
        at = [cell_index(ref) for ref in self.cells]
        return f"A1:{cell_ref(max(r for r, _ in at), max(c for _, c in at))}"


@dataclass(frozen=True)
class Book:
    """A workbook: the format its bytes are in (``detect_format``) and its sheets, in order."""

    format: str
    sheets: list[Sheet]

    def sheet(self, key: int | str) -> Sheet | None:
        """Return a sheet by index (0 is the first) or by name; None if there is none."""
        if isinstance(key, int):
            return self.sheets[key] if 0 <= key < len(self.sheets) else None
        return next((s for s in self.sheets if s.name == key), None)


def parse_book(xml: bytes, csvs: list[bytes], fmt: str) -> Book | str:
    """Build a Book from ssconvert's Gnumeric XML and each sheet's CSV of displayed values."""
    if xml.startswith(b"\x1f\x8b"):
        try:
            xml = zlib.decompress(xml, 16 + zlib.MAX_WBITS)
        except zlib.error as exc:
            return f"ssconvert's XML is corrupt ({exc})"
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        return f"ssconvert's XML does not parse ({exc})"
    sheets = []
    for index, node in enumerate(root.iter(f"{_GNM}Sheet")):
        rows = (
            list(csv.reader(io.StringIO(csvs[index].decode("utf-8", "replace")))) if index < len(csvs) else []
        )
        sheets.append(Sheet(node.findtext(f"{_GNM}Name") or f"Sheet{index + 1}", _cells(node, rows)))
    return Book(fmt, sheets)


def _cells(node: ET.Element, rows: list[list[str]]) -> dict[str, Cell]:
    shared: dict[str, tuple[str, int, int]] = {}
    cells: dict[str, Cell] = {}
    for c in node.iter(f"{_GNM}Cell"):
        try:
            row, col = int(c.get("Row", "")), int(c.get("Col", ""))
        except ValueError:
            continue
        display = rows[row][col] if row < len(rows) and col < len(rows[row]) else ""
        text = c.text or ""
        expr, vtype = c.get("ExprID"), c.get("ValueType")
        formula: str | None = None
        if text.startswith("=") and vtype is None:
            formula = text
            if expr is not None:
                shared.setdefault(expr, (text, row, col))
        elif expr is not None and not text and expr in shared:
            first, r0, c0 = shared[expr]
            formula = shift_formula(first, row - r0, col - c0)
        if formula is not None:
            formula = upper_functions(formula)
            kind = display_type(display)
        else:
            kind = _VALUE_TYPES.get(vtype or "", "text")
            if vtype == "80":
                kind = display_type(display)
            if kind == "empty":
                continue
        cells[cell_ref(row, col)] = Cell(display, kind, formula)
    return cells


def read_book(sandbox: Sandbox, path: str, upload: bytes | None = None) -> Book | str:
    """Read a spreadsheet in ``sandbox`` as a typed Book, or return an error message.

    ``upload``: the file's bytes, written to a scratch folder in the sandbox first (for a file
    that lives on the host). One exec converts the file (see ``ssconvert.convert_book``).
    """
    got = convert_book(sandbox, path, upload)
    if isinstance(got, str):
        return got
    data, xml, csvs = got
    return parse_book(xml, csvs, detect_format(data))
