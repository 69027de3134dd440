"""Executable validators: composable checks of a sandbox's final state, each scored in [0, 1].

A validator looks only at the sandbox (files, command output, windows, the accessibility tree),
never at what an agent says it did. Written in a task file as a mapping with one key::

    all:                                   # every check must pass; score: the mean of the checks
      - file_exists: report.txt            # or {path: docs, kind: dir}
      - file_absent: draft.txt
      - file_text: {path: report.txt, equals: "Hello"}      # or contains / matches / not_contains
      - json_path: {path: cfg.json, query: "editor.tabs[0]", equals: 4}
      - cells: {path: book.gnumeric, values: {B4: 7, A1: item}}
      - table_equals: {path: book.xlsx, expected: gold.xlsx}  # a host file; relative: to the task file
      - command: {argv: [ls, docs], stdout_contains: a.txt}
      - window_title: {matches: "^report.txt"}
      - a11y: {target: {role: check box, name: Subscribe}, states: [checked]}
      - screen_text: {contains: "Total: 12"}
      - any: [...]                         # at least one passes; score: the best
      - not: {file_exists: tmp.txt}

Spreadsheets are read with a real parser: Gnumeric's ``ssconvert`` run *inside* the sandbox
turns any format the applications save (.gnumeric, .ods, .xlsx, .xls, .csv) into CSV of the
values as displayed, so one code path covers both spreadsheet applications without a host-side
dependency (openpyxl reads only .xlsx, odfpy only .ods, and neither computes what the user saw).
Cells keep their real positions: the CSV export starts at A1, not at the first used cell, so a
reason names the cell the user sees and data moved by a row or a column does not match.
``screen_text`` searches the text of visible accessibility nodes and the window title: no OCR
package is installed, so text painted without an accessibility node cannot be checked.
"""

from __future__ import annotations

import abc
import csv
import io
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.targets import Target, a11y_tree, parse_target
from sandbox.base import A11yNode, Sandbox
from sandbox.errors import SandboxError

EPS = 1e-9
#: How much of a file or an output a reason quotes.
QUOTE = 60


@dataclass(frozen=True)
class Verdict:
    """A validator's outcome: a score in [0, 1] and the reasons behind it, one line each."""

    score: float
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Return whether the task counts as done (the score is 1)."""
        return self.score >= 1.0 - EPS

    def explain(self) -> str:
        """Return the reasons as an indented block of text."""
        return "\n".join(self.reasons)


def _ok(text: str) -> Verdict:
    return Verdict(1.0, (f"PASS {text}",))


def _fail(text: str, score: float = 0.0) -> Verdict:
    return Verdict(score, (f"FAIL {text}",))


def _q(text: str) -> str:
    shown = text if len(text) <= QUOTE else text[: QUOTE - 3] + "..."
    return repr(shown)


MAX_SHEET_CELLS = 5_000_000
"""The most cells (rows x columns from A1) a spreadsheet check converts; more is refused."""
#: Sheet -> CSV in the sandbox, from A1 (args: scratch folder, file, output pattern, cell limit).
#: ssconvert's CSV export alone starts at the first used cell, dropping leading empty rows and
#: columns, which shifts every position. So the Gnumeric XML export first tells how far the
#: sheets reach (their sizes and every cell's row and column), and the CSV export then takes
#: the range from A1 to there. Exit 3: no such file; 4: ssconvert failed; 5: too many cells.
_CONVERT = r"""
mkdir -p "$1" && test -e "$2" || { echo "no such file" >&2; exit 3; }
ssconvert -T Gnumeric_XmlIO:sax "$2" "$1/book.xml" >/dev/null 2>"$1/log" \
  || { tail -c 300 "$1/log" >&2; exit 4; }
range=$(gzip -dcf "$1/book.xml" \
  | grep -oE '<gnm:Max(Col|Row)>[0-9]+|<gnm:Cell Row="[0-9]+" Col="[0-9]+"' \
  | awk -v limit="$4" '
    function letters(n,  s) {
      s = ""; n++
      while (n > 0) { s = sprintf("%c", 65 + (n - 1) % 26) s; n = int((n - 1) / 26) }
      return s
    }
    /MaxCol/ { sub(/.*>/, ""); if ($0 + 0 > c) c = $0 + 0; next }
    /MaxRow/ { sub(/.*>/, ""); if ($0 + 0 > r) r = $0 + 0; next }
    { split($0, a, "\""); if (a[2] + 0 > r) r = a[2] + 0; if (a[4] + 0 > c) c = a[4] + 0 }
    END {
      if ((r + 1) * (c + 1) > limit) { print (r + 1) * (c + 1); exit 5 }
      print "A1:" letters(c) (r + 1)
    }') \
  || { echo "$range cells" >&2; exit 5; }
ssconvert -S --export-range="$range" --export-type=Gnumeric_stf:stf_csv "$2" "$1/$3" \
  >/dev/null 2>"$1/log" || { tail -c 300 "$1/log" >&2; exit 4; }
"""


@dataclass
class Context:
    """What checks of one validation share: the sandbox and caches of expensive reads."""

    sandbox: Sandbox
    base: Path | None = None
    """The folder relative host paths are resolved against (the task file's folder)."""
    _tree: tuple[A11yNode, ...] | None = None
    _title: tuple[str | None] | None = None
    _sheets: dict[tuple[str, str | int], list[list[str]] | str] = field(default_factory=dict)

    def tree(self) -> tuple[A11yNode, ...]:
        """Return the accessibility tree, read once per validation."""
        if self._tree is None:
            self._tree = a11y_tree(self.sandbox)
        return self._tree

    def title(self) -> str | None:
        """Return the focused window's title, read once per validation."""
        if self._title is None:
            self._title = (self.sandbox.observe().window_title,)
        return self._title[0]

    def host_path(self, path: str) -> Path:
        """Return a host file named in a check: relative paths are under ``base`` when known."""
        named = Path(path)
        return self.base / named if self.base is not None and not named.is_absolute() else named

    def read_text(self, path: str) -> str | None:
        """Return a file's text, or None when it does not exist or cannot be read."""
        try:
            return self.sandbox.read_file(path).decode("utf-8", "replace")
        except SandboxError:
            return None

    def sheet(self, path: str, sheet: str | int = 0, upload: bytes | None = None) -> list[list[str]] | str:
        """Return one sheet of a spreadsheet as rows of displayed values, or an error message.

        ``upload``: the file's bytes, written to a scratch folder in the sandbox first (for an
        expected file that lives on the host).
        """
        key = (path if upload is None else f"upload:{hash(upload)}:{path}", sheet)
        if key not in self._sheets:
            self._sheets[key] = self._convert(path, sheet, upload)
        return self._sheets[key]

    def _convert(self, path: str, sheet: str | int, upload: bytes | None) -> list[list[str]] | str:
        scratch = f"/tmp/cua-validate-{uuid.uuid4().hex[:8]}"
        try:
            if upload is not None:
                src = f"{scratch}/in/{Path(path).name}"
                self.sandbox.write_file(src, upload)
            else:
                src = path
                if path.lower().endswith(".csv"):
                    text = self.read_text(path)
                    if text is None:
                        return f"{path} does not exist"
                    return list(csv.reader(io.StringIO(text)))
            pattern = "%n.csv" if isinstance(sheet, int) else "%s.csv"
            result = self.sandbox.exec(
                ["sh", "-c", _CONVERT, "sh", scratch, src, pattern, str(MAX_SHEET_CELLS)], timeout_s=60
            )
            if result.returncode == 3:
                return f"{path} does not exist"
            if result.returncode == 5:
                cells = result.stderr.decode(errors="replace").strip()
                return f"{path} is too large to compare: {cells} from A1 (the limit is {MAX_SHEET_CELLS:,})"
            if not result.ok:
                return f"ssconvert could not read {path}: {result.stderr.decode(errors='replace').strip()}"
            name = f"{sheet}.csv"
            try:
                data = self.sandbox.read_file(f"{scratch}/{name}").decode("utf-8", "replace")
            except SandboxError:
                return f"{path} has no sheet {sheet!r}"
            return list(csv.reader(io.StringIO(data)))
        finally:
            self.sandbox.exec(["rm", "-rf", scratch], timeout_s=10)


class Check(abc.ABC):
    """One check of the final state; subclasses register under their ``kind``."""

    kind: ClassVar[str]

    @abc.abstractmethod
    def run(self, ctx: Context) -> Verdict:
        """Score the sandbox's current state."""

    @abc.abstractmethod
    def to_json(self) -> Any:
        """Return the task-file form of this check (without the kind key)."""

    def data(self) -> dict[str, Any]:
        """Return the task-file form with its kind: ``{kind: ...}``."""
        return {self.kind: self.to_json()}


def validate_state(sandbox: Sandbox, check: Check, base: Path | None = None) -> Verdict:
    """Run ``check`` against ``sandbox``'s current state.

    ``base``: the folder that relative host paths in the check (expected files) are under,
    normally the task file's folder. A wrong outcome is a low score with reasons, never an
    exception; a sandbox that broke (crashed, hung) raises its ``SandboxError``: that is no
    verdict on the task.
    """
    return check.run(Context(sandbox, base))


# -- combinators ------------------------------------------------------------------------------
def _indent(verdicts: Sequence[Verdict]) -> tuple[str, ...]:
    return tuple("  " + line for v in verdicts for line in v.reasons)


@dataclass(frozen=True)
class All(Check):
    """Every child must pass; the score is the mean of the children's (partial credit)."""

    checks: tuple[Check, ...]
    kind: ClassVar[str] = "all"

    def run(self, ctx: Context) -> Verdict:
        """Run every child (no short cut: the reasons list all failures)."""
        results = [c.run(ctx) for c in self.checks]
        passed = sum(r.passed for r in results)
        score = sum(r.score for r in results) / len(results)
        if passed < len(results):
            score = min(score, 1.0 - 1e-6)
        head = f"{'PASS' if passed == len(results) else 'FAIL'} all ({passed}/{len(results)} passed)"
        return Verdict(score, (head, *_indent(results)))

    def to_json(self) -> Any:
        """Return the list of children."""
        return [c.data() for c in self.checks]


@dataclass(frozen=True)
class AnyOf(Check):
    """At least one child must pass; the score is the best child's."""

    checks: tuple[Check, ...]
    kind: ClassVar[str] = "any"

    def run(self, ctx: Context) -> Verdict:
        """Run every child and keep the best score."""
        results = [c.run(ctx) for c in self.checks]
        best = max(r.score for r in results)
        ok = any(r.passed for r in results)
        head = f"{'PASS' if ok else 'FAIL'} any ({sum(r.passed for r in results)}/{len(results)} passed)"
        return Verdict(best, (head, *_indent(results)))

    def to_json(self) -> Any:
        """Return the list of children."""
        return [c.data() for c in self.checks]


@dataclass(frozen=True)
class Not(Check):
    """Passes exactly when the child fails (score 1 - child's score, rounded to pass/fail)."""

    check: Check
    kind: ClassVar[str] = "not"

    def run(self, ctx: Context) -> Verdict:
        """Invert the child."""
        inner = self.check.run(ctx)
        ok = not inner.passed
        return Verdict(1.0 if ok else 0.0, (f"{'PASS' if ok else 'FAIL'} not", *_indent([inner])))

    def to_json(self) -> Any:
        """Return the child."""
        return self.check.data()


# -- files ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileExists(Check):
    """A path exists (as a file, a folder, or either)."""

    path: str
    type: str = "any"
    kind: ClassVar[str] = "file_exists"

    def run(self, ctx: Context) -> Verdict:
        """Ask the sandbox with ``test``."""
        flag = {"any": "-e", "file": "-f", "dir": "-d"}[self.type]
        what = {"any": "exists", "file": "is a file", "dir": "is a folder"}[self.type]
        if ctx.sandbox.exec(["test", flag, self.path], timeout_s=10).ok:
            return _ok(f"{self.path} {what}")
        return _fail(f"{self.path} {what}: no")

    def to_json(self) -> Any:
        """Return the path, or the path and type."""
        return self.path if self.type == "any" else {"path": self.path, "type": self.type}


@dataclass(frozen=True)
class FileAbsent(Check):
    """Nothing exists at a path."""

    path: str
    kind: ClassVar[str] = "file_absent"

    def run(self, ctx: Context) -> Verdict:
        """Ask the sandbox with ``test -e``."""
        present = ctx.sandbox.exec(["test", "-e", self.path], timeout_s=10).ok
        return _fail(f"{self.path} is absent: it exists") if present else _ok(f"{self.path} is absent")

    def to_json(self) -> Any:
        """Return the path."""
        return self.path


TEXT_OPS = ("equals", "contains", "not_contains", "matches")


def _compare_text(actual: str, op: str, expected: str) -> bool:
    if op == "equals":
        return actual == expected
    if op == "contains":
        return expected in actual
    if op == "not_contains":
        return expected not in actual
    return re.search(expected, actual, re.MULTILINE) is not None


@dataclass(frozen=True)
class FileText(Check):
    """A text file's content equals / contains / does not contain / matches (regex) a value.

    ``strip`` (default true) compares with leading and trailing whitespace removed on both
    sides, so an editor's final newline does not matter; ``lines`` compares line by line with
    trailing spaces of each line ignored.
    """

    path: str
    op: str
    value: str
    strip: bool = True
    kind: ClassVar[str] = "file_text"

    def run(self, ctx: Context) -> Verdict:
        """Read the file and compare."""
        text = ctx.read_text(self.path)
        label = f"{self.path} {self.op.replace('_', ' ')} {_q(self.value)}"
        if text is None:
            return _fail(f"{label}: the file does not exist")
        actual, expected = (text.strip(), self.value.strip()) if self.strip else (text, self.value)
        if self.strip:
            actual = "\n".join(line.rstrip() for line in actual.splitlines())
            expected = "\n".join(line.rstrip() for line in expected.splitlines())
        if _compare_text(actual, self.op, expected):
            return _ok(label)
        return _fail(f"{label}: it holds {_q(text)}")

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"path": self.path, self.op: self.value}
        if not self.strip:
            data["strip"] = False
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

    def run(self, ctx: Context) -> Verdict:
        """Parse the file and follow the query."""
        label = f"{self.path}:{self.query} == {self.equals!r}"
        text = ctx.read_text(self.path)
        if text is None:
            return _fail(f"{label}: the file does not exist")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            return _fail(f"{label}: not valid JSON ({exc.msg} at line {exc.lineno})")
        try:
            value = json_query(doc, self.query)
        except (KeyError, IndexError, TypeError) as exc:
            return _fail(f"{label}: no such value ({exc})")
        return _ok(label) if value == self.equals else _fail(f"{label}: it is {value!r}")

    def to_json(self) -> Any:
        """Return the mapping form."""
        return {"path": self.path, "query": self.query, "equals": self.equals}


# -- spreadsheets -----------------------------------------------------------------------------
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

    def run(self, ctx: Context) -> Verdict:
        """Convert the file with ssconvert in the sandbox and compare each cell."""
        rows = ctx.sheet(self.path, self.sheet)
        label = f"cells of {self.path}"
        if isinstance(rows, str):
            return _fail(f"{label}: {rows}")
        wrong = []
        for ref, expected in self.values.items():
            actual = cell_value(rows, ref)
            if not same_cell(actual, expected, self.tolerance):
                wrong.append(f"{ref}={actual!r} (expected {expected!r})")
        right = len(self.values) - len(wrong)
        if not wrong:
            return _ok(f"{label}: {', '.join(f'{k}={v!r}' for k, v in self.values.items())}")
        return _fail(
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

    def run(self, ctx: Context) -> Verdict:
        """Compare every cell of the two sheets."""
        label = f"{self.path} matches {Path(self.expected).name}"
        expected = ctx.host_path(self.expected)
        try:
            gold_bytes = expected.read_bytes()
        except OSError as exc:
            return _fail(f"{label}: cannot read the expected file {expected} ({exc.strerror})")
        actual = ctx.sheet(self.path, self.sheet)
        if isinstance(actual, str):
            return _fail(f"{label}: {actual}")
        gold = ctx.sheet(Path(self.expected).name, self.expected_sheet, upload=gold_bytes)
        if isinstance(gold, str):
            return _fail(f"{label}: expected file: {gold}")
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
            return _ok(label)
        shown = "; ".join(diffs[:5]) + (f"; +{len(diffs) - 5} more" if len(diffs) > 5 else "")
        return _fail(f"{label}: {len(diffs)} cells differ: {shown}")

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


# -- commands, windows, screen ----------------------------------------------------------------
@dataclass(frozen=True)
class Command(Check):
    """A command run in the sandbox exits with ``returncode`` and its output satisfies ``op``."""

    argv: tuple[str, ...]
    returncode: int | None = 0
    op: str | None = None
    value: str = ""
    timeout_s: float = 30.0
    kind: ClassVar[str] = "command"

    def run(self, ctx: Context) -> Verdict:
        """Run the command and compare."""
        result = ctx.sandbox.exec(list(self.argv), timeout_s=self.timeout_s)
        shown = " ".join(self.argv)
        label = f"`{shown[:QUOTE]}`"
        if self.returncode is not None and result.returncode != self.returncode:
            err = result.stderr.decode(errors="replace").strip()
            return _fail(f"{label} exits {self.returncode}: it exited {result.returncode} {_q(err)}")
        if self.op is None:
            return _ok(f"{label} exits {self.returncode}")
        out = result.text.strip()
        expected = self.value.strip() if self.op == "equals" else self.value
        label += f" output {self.op.replace('_', ' ')} {_q(self.value)}"
        return (
            _ok(label) if _compare_text(out, self.op, expected) else _fail(f"{label}: it printed {_q(out)}")
        )

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"argv": list(self.argv)}
        if self.returncode != 0:
            data["returncode"] = self.returncode
        if self.op is not None:
            data[f"stdout_{self.op}"] = self.value
        return data


@dataclass(frozen=True)
class WindowTitle(Check):
    """The focused window's title (read from X) matches a regex or equals a string."""

    op: str
    value: str
    kind: ClassVar[str] = "window_title"

    def run(self, ctx: Context) -> Verdict:
        """Read the title and compare."""
        title = ctx.title() or ""
        label = f"window title {self.op.replace('_', ' ')} {_q(self.value)}"
        return (
            _ok(label) if _compare_text(title, self.op, self.value) else _fail(f"{label}: it is {_q(title)}")
        )

    def to_json(self) -> Any:
        """Return the mapping form."""
        return {self.op: self.value}


@dataclass(frozen=True)
class A11yState(Check):
    """An accessibility node exists (or not) with the given states and text."""

    target: Target
    present: bool = True
    states: tuple[str, ...] = ()
    not_states: tuple[str, ...] = ()
    text_op: str | None = None
    text: str = ""
    kind: ClassVar[str] = "a11y"

    def run(self, ctx: Context) -> Verdict:
        """Find the node in the live tree and compare."""
        # States are checked on the found node, not used to find it: "the box exists but is
        # not checked" must fail with that reason, not with "no such node".
        node = self.target.find(ctx.tree())
        label = self.target.describe()
        if not self.present:
            return _ok(f"no {label}") if node is None else _fail(f"no {label}: it is there")
        if node is None:
            return _fail(f"{label} is shown: it is not")
        missing = [s for s in self.states if s not in node.states]
        extra = [s for s in self.not_states if s in node.states]
        if missing or extra:
            what = ", ".join([f"not {s}" for s in missing] + [s for s in extra])
            return _fail(f"{label} state: it is {what}")
        if self.text_op is not None:
            actual = node.text or node.name
            wanted = f"text {self.text_op.replace('_', ' ')} {_q(self.text)}"
            if not _compare_text(
                actual.strip(), self.text_op, self.text.strip() if self.text_op == "equals" else self.text
            ):
                return _fail(f"{label} {wanted}: it is {_q(actual)}")
            label += f" {wanted}"
        if self.states:
            label += f" is {', '.join(self.states)}"
        if self.not_states:
            label += f" is not {', '.join(self.not_states)}"
        return _ok(label)

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"target": self.target.to_json()}
        if not self.present:
            data["present"] = False
        if self.states:
            data["states"] = list(self.states)
        if self.not_states:
            data["not_states"] = list(self.not_states)
        if self.text_op is not None:
            data[f"text_{self.text_op}"] = self.text
        return data


@dataclass(frozen=True)
class ScreenText(Check):
    """Text is visible on the screen: in a visible accessibility node's name or text, or the title.

    Not OCR: no OCR package is installed here, so only text an application exposes counts.
    """

    op: str
    value: str
    kind: ClassVar[str] = "screen_text"

    def run(self, ctx: Context) -> Verdict:
        """Search the visible texts."""
        texts = [ctx.title() or ""] + [t for n in ctx.tree() for t in (n.name, n.text) if t]
        label = f"screen text {self.op.replace('_', ' ')} {_q(self.value)}"
        if self.op == "not_contains":
            hit = any(self.value in t for t in texts)
            return _fail(f"{label}: it is shown") if hit else _ok(label)
        hit = any(_compare_text(t, self.op, self.value) for t in texts)
        return _ok(label) if hit else _fail(f"{label}: not among {len(texts)} visible texts")

    def to_json(self) -> Any:
        """Return the mapping form."""
        return {self.op: self.value}


# -- parsing ----------------------------------------------------------------------------------
CHECK_KINDS: tuple[str, ...] = (
    "all",
    "any",
    "not",
    "file_exists",
    "file_absent",
    "file_text",
    "json_path",
    "cells",
    "table_equals",
    "command",
    "window_title",
    "a11y",
    "screen_text",
)


def parse_check(data: Any, where: Where) -> Check:
    """Parse a validator mapping (one key naming the check kind); errors name the field."""
    if not isinstance(data, dict) or len(data) != 1:
        raise where.error(f"a mapping with exactly one check kind among {list(CHECK_KINDS)}", data)
    kind, value = next(iter(data.items()))
    at = where.at(str(kind))
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise where.error(f"a check kind among {list(CHECK_KINDS)}", kind)
    return parser(value, at)


def _children(value: Any, at: Where) -> tuple[Check, ...]:
    if not isinstance(value, list) or not value:
        raise at.error("a non-empty list of checks", value)
    return tuple(parse_check(item, at.at(i)) for i, item in enumerate(value))


def _mapping(value: Any, at: Where, required: Sequence[str], optional: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise at.error(f"a mapping with {', '.join(required)}", value)
    missing = [k for k in required if k not in value]
    if missing:
        raise at.error(f"the key(s) {missing}", sorted(value))
    extra = set(value) - set(required) - set(optional)
    if extra:
        raise at.error(f"only the keys {sorted([*required, *optional])}", sorted(extra))
    return value


def _str(value: Any, at: Where, what: str = "a string") -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise at.error(what, value)
    return str(value)


def _path(value: Any, at: Where) -> str:
    path = _str(value, at, "a file path (relative paths are under the sandbox's HOME)")
    if not path:
        raise at.error("a non-empty path", value)
    return path


def _one_op(value: dict[str, Any], at: Where, ops: Sequence[str], prefix: str = "") -> tuple[str, str]:
    found = [op for op in ops if prefix + op in value]
    if len(found) != 1:
        raise at.error(f"exactly one of {[prefix + op for op in ops]}", sorted(value))
    op = found[0]
    text = _str(value[prefix + op], at.at(prefix + op))
    if op == "matches":
        try:
            re.compile(text)
        except re.error as exc:
            raise at.at(prefix + op).error(f"a valid regular expression ({exc})", text) from None
    return op, text


def _sheet(value: Any, at: Where) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int) or (isinstance(value, int) and value < 0):
        raise at.error("a sheet index (0 is the first) or a sheet name", value)
    return value


def _tolerance(value: Any, at: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise at.error("a non-negative number", value)
    return float(value)


def _p_all(value: Any, at: Where) -> Check:
    return All(_children(value, at))


def _p_any(value: Any, at: Where) -> Check:
    return AnyOf(_children(value, at))


def _p_not(value: Any, at: Where) -> Check:
    return Not(parse_check(value, at))


def _p_exists(value: Any, at: Where) -> Check:
    if not isinstance(value, dict):
        return FileExists(_path(value, at))
    m = _mapping(value, at, ["path"], ["type"])
    kind = m.get("type", "any")
    if kind not in ("any", "file", "dir"):
        raise at.at("type").error("one of 'any', 'file', 'dir'", kind)
    return FileExists(_path(m["path"], at.at("path")), kind)


def _p_absent(value: Any, at: Where) -> Check:
    if isinstance(value, dict):
        return FileAbsent(_path(_mapping(value, at, ["path"], [])["path"], at.at("path")))
    return FileAbsent(_path(value, at))


def _p_text(value: Any, at: Where) -> Check:
    m = _mapping(value, at, ["path"], [*TEXT_OPS, "strip"])
    op, text = _one_op(m, at, TEXT_OPS)
    strip = m.get("strip", True)
    if not isinstance(strip, bool):
        raise at.at("strip").error("true or false", strip)
    return FileText(_path(m["path"], at.at("path")), op, text, strip)


def _p_json(value: Any, at: Where) -> Check:
    m = _mapping(value, at, ["path", "query", "equals"], [])
    query = _str(m["query"], at.at("query"), "a query such as 'a.b[0]'")
    return JsonPath(_path(m["path"], at.at("path")), query, m["equals"])


def _p_cells(value: Any, at: Where) -> Check:
    m = _mapping(value, at, ["path", "values"], ["sheet", "tolerance"])
    values = m["values"]
    if not isinstance(values, dict) or not values:
        raise at.at("values").error("a mapping of cell references (A1) to values", values)
    for ref, expected in values.items():
        if not isinstance(ref, str) or not _CELL.match(ref):
            raise at.at("values").error("cell references such as B4", ref)
        if isinstance(expected, dict | list):
            raise at.at("values").at(ref).error("a number, a string, true/false or null", expected)
    return Cells(
        _path(m["path"], at.at("path")),
        dict(values),
        _sheet(m.get("sheet", 0), at.at("sheet")),
        _tolerance(m.get("tolerance", 1e-6), at.at("tolerance")),
    )


def _p_table(value: Any, at: Where) -> Check:
    m = _mapping(value, at, ["path", "expected"], ["sheet", "expected_sheet", "tolerance"])
    return TableEquals(
        _path(m["path"], at.at("path")),
        _path(m["expected"], at.at("expected")),
        _sheet(m.get("sheet", 0), at.at("sheet")),
        _sheet(m.get("expected_sheet", 0), at.at("expected_sheet")),
        _tolerance(m.get("tolerance", 1e-6), at.at("tolerance")),
    )


def _p_command(value: Any, at: Where) -> Check:
    ops = [f"stdout_{op}" for op in TEXT_OPS]
    m = _mapping(value, at, ["argv"], ["returncode", "timeout_s", *ops])
    argv = m["argv"]
    if isinstance(argv, str):
        argv = ["sh", "-c", argv]
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str | int) for a in argv):
        raise at.at("argv").error("a non-empty list of strings (or one shell command string)", argv)
    rc = m.get("returncode", 0)
    if rc is not None and (not isinstance(rc, int) or isinstance(rc, bool)):
        raise at.at("returncode").error("an integer, or null for any", rc)
    timeout = m.get("timeout_s", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise at.at("timeout_s").error("a positive number of seconds", timeout)
    op: str | None = None
    text = ""
    if any(k in m for k in ops):
        op, text = _one_op(m, at, TEXT_OPS, prefix="stdout_")
    return Command(tuple(str(a) for a in argv), rc, op, text, float(timeout))


def _p_title(value: Any, at: Where) -> Check:
    if isinstance(value, str):
        value = {"matches": value}
    m = _mapping(value, at, [], TEXT_OPS)
    op, text = _one_op(m, at, TEXT_OPS)
    return WindowTitle(op, text)


def _state_list(value: Any, at: Where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise at.error("a list of state names such as [checked]", value)
    return tuple(value)


def _p_a11y(value: Any, at: Where) -> Check:
    text_ops = [f"text_{op}" for op in TEXT_OPS]
    m = _mapping(value, at, ["target"], ["present", "states", "not_states", *text_ops])
    present = m.get("present", True)
    if not isinstance(present, bool):
        raise at.at("present").error("true or false", present)
    text_op: str | None = None
    text = ""
    if any(k in m for k in text_ops):
        text_op, text = _one_op(m, at, TEXT_OPS, prefix="text_")
    return A11yState(
        parse_target(m["target"], at.at("target")),
        present,
        _state_list(m.get("states", []), at.at("states")),
        _state_list(m.get("not_states", []), at.at("not_states")),
        text_op,
        text,
    )


def _p_screen(value: Any, at: Where) -> Check:
    if isinstance(value, str):
        value = {"contains": value}
    m = _mapping(value, at, [], TEXT_OPS)
    op, text = _one_op(m, at, TEXT_OPS)
    if op == "equals":
        raise at.error("contains, not_contains or matches (screen text is never one exact string)", value)
    return ScreenText(op, text)


_PARSERS: dict[str, Callable[[Any, Where], Check]] = {
    "all": _p_all,
    "any": _p_any,
    "not": _p_not,
    "file_exists": _p_exists,
    "file_absent": _p_absent,
    "file_text": _p_text,
    "json_path": _p_json,
    "cells": _p_cells,
    "table_equals": _p_table,
    "command": _p_command,
    "window_title": _p_title,
    "a11y": _p_a11y,
    "screen_text": _p_screen,
}
