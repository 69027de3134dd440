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
      - sheet: {path: book.ods, cells: {B2: 42, B7: {formula: true, refs: [B2:B6], value: 150}}}
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

Each check kind is one class, declared once: its ``kind`` registers it (``Check.__init_subclass__``),
its ``from_json`` reads the task-file form and ``to_json`` writes it back. The modules hold:
``base`` (``ValidatorVerdict``, ``Check`` and its registry, ``Context``, ``parse_check``),
``fields`` (text comparisons and field readers), ``ssconvert`` (spreadsheets to rows, inside
the sandbox), ``combinators``, ``files``, ``sheets``, ``commands`` and ``screen`` (the checks).
"""

from __future__ import annotations

from cua.tasks.validators.base import (
    EPS,
    QUOTE,
    Baseline,
    Check,
    Context,
    Move,
    NoBaseline,
    Trajectory,
    ValidatorVerdict,
    capture_state,
    check_kinds,
    parse_check,
    validate_state,
)
from cua.tasks.validators.fields import TEXT_OPS
from cua.tasks.validators.ssconvert import MAX_SHEET_CELLS

# isort: split
# The check modules, in the order their kinds are listed (CHECK_KINDS, errors): a check registers
# when its module is imported, so the splits keep isort from reordering them.
from cua.tasks.validators.combinators import All, AnyOf, Not

# isort: split
from cua.tasks.validators.files import FileAbsent, FileExists, FileText, JsonPath, json_query

# isort: split
from cua.tasks.validators.book import (
    Book,
    Cell,
    as_number,
    cell_index,
    detect_format,
    format_for_name,
    formula_refs,
    read_book,
)
from cua.tasks.validators.sheets import (
    Cells,
    Sheet,
    TableEquals,
    cell_value,
    same_cell,
)

# isort: split
from cua.tasks.validators.commands import Command

# isort: split
from cua.tasks.validators.screen import A11yState, ScreenText, WindowTitle

# isort: split
from cua.tasks.validators.home import Changes, HomeListing, SideEffects, read_home

# isort: split
from cua.tasks.validators.method import TrajectoryCheck, presses

#: Every check kind a task file may name, in declaration order.
CHECK_KINDS: tuple[str, ...] = check_kinds()

__all__ = [
    "CHECK_KINDS",
    "EPS",
    "MAX_SHEET_CELLS",
    "QUOTE",
    "TEXT_OPS",
    "A11yState",
    "All",
    "AnyOf",
    "Baseline",
    "Book",
    "Cell",
    "Cells",
    "Changes",
    "Check",
    "Command",
    "Context",
    "FileAbsent",
    "FileExists",
    "FileText",
    "HomeListing",
    "JsonPath",
    "Move",
    "NoBaseline",
    "Not",
    "ScreenText",
    "Sheet",
    "SideEffects",
    "TableEquals",
    "Trajectory",
    "TrajectoryCheck",
    "ValidatorVerdict",
    "WindowTitle",
    "as_number",
    "capture_state",
    "cell_index",
    "cell_value",
    "check_kinds",
    "detect_format",
    "format_for_name",
    "formula_refs",
    "json_query",
    "parse_check",
    "presses",
    "read_book",
    "read_home",
    "same_cell",
    "validate_state",
]
