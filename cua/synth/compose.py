"""Goal-level candidates composed from what a walk found: arithmetic on a keypad, file operations.

A walk over a calculator learns single moves (one button, one changed display); a person asks
for results ("what is 37 + 18"). When the walk's start state shows a keypad (buttons for every
digit and for '=') beside a text display, this module composes expressions from the operator
buttons the screen offers and proposes each as a task: the validator is the display showing the
value Python computes, the demonstration is the button presses that spell the expression and
'=' (after the clear button when the display starts non-zero). Candidates go through the same
admission as derived ones: proven from a fresh reset, shortened, checked against near misses
(a wrong digit, a dropped press), so a composed task the application does not agree with is
rejected there, never admitted on the module's word.

A file manager showing HOME as icons gets file goals from the files and folders the start
state holds: rename a file, make a folder, move a file into a folder. Each validator is the
whole difference under HOME (``changes``: exactly that rename or move, nothing else touched, so a
copy, a second file or a stray edit fails) plus, for a new folder, that it is a folder; the
demonstration is the keys a person would use (select the icon, F2; ctrl+shift+n; cut, open the
folder, paste), admitted like any candidate. A terminal gets the same goals over the same
validators, plus an empty file, each reached by one command typed at the prompt (``touch``,
``mkdir``, ``mv``), the Return waiting on replay for the file it makes.

An editor showing an empty, untitled document gets "write this and save it as that": the
validator is the whole difference under HOME (exactly one new file, so a save elsewhere or a
second file fails) plus that file's whole text (so a save before the last word, or the words
typed into the name, fails); the demonstration types the words, saves with ctrl+s and gives the
dialog the file's full path. An editor showing a text file the setup wrote gets "add this line
at its end" (a blank line between is allowed: editors differ in whether a file's last line
break is a line of its own) or "at its top", each with exactly that file modified and its whole
text checked, or "save a copy under this name" by the File menu's Save As (exactly one new file
with the old text, so a move, or a copy with the original changed too, fails).

A spreadsheet opened on a table the seed wrote (its CSV is in the setup) gets formula goals (the
total, average, largest or smallest of a column's numbers below it, or of a row's beside it)
and value goals (a number typed into a cell beside the table), both saved: the validator reads
the saved workbook (``sheet``: the cell is a formula over exactly that range with the value
Python computes, or a plain number; every other cell as it started, the file still in its
format), the demonstration moves there by keys from A1, types and saves with ctrl+s.

Nothing here reads a built-in task; the operations are arithmetic, file moves, saved text and
spreadsheet formulas, and the phrasings are ``grammar.yaml``'s ``goal/...`` lists.
"""

from __future__ import annotations

import csv
import io
import math
import operator
import random
import re
import shlex
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cua.synth.derive import Candidate, app_kind, app_name, proposal, with_chain, written
from cua.synth.shell import command_steps
from cua.synth.state import Change, NodeKey, Snapshot
from cua.synth.walk import Move, Walk
from cua.synth.webform import FormGoal, form_goals, shown_form
from cua.synth.words import file_stem, words
from cua.tasks.params import HOME
from cua.tasks.spec import LaunchStep, SetupItem
from cua.tasks.validators.book import cell_ref

#: Roles of keypad buttons.
BUTTON_ROLES = ("push button", "toggle button")
#: Operator buttons by label: (the symbol an instruction writes, the operation).
OPERATORS: Mapping[str, tuple[str, Callable[[int, int], int]]] = {
    "+": ("+", operator.add),
    "-": ("-", operator.sub),
    "−": ("-", operator.sub),
    "*": ("×", operator.mul),
    "×": ("×", operator.mul),
    "x": ("×", operator.mul),
    "/": ("÷", operator.floordiv),
    "÷": ("÷", operator.floordiv),
}
#: Labels of a square-root button.
ROOTS = ("sqrt", "√")
#: Labels of a clear button, preferred first.
CLEARS = ("AC", "C", "CE", "Clear")
#: Composed candidates proposed per walk (each costs several replays to admit).
PER_WALK = 2
#: The longest composed demonstration, in presses (longer expressions teach little more).
MAX_PRESSES = 12
#: A window title of a document not yet saved ("Untitled 1 - Mousepad", "untitled - Geany").
UNTITLED = re.compile(r"(?i)\buntitled\b")
#: Workbook formats a seed opens, by extension.
WORKBOOKS = (".gnumeric", ".ods")
#: Spreadsheet functions a formula goal asks for: (the instruction's words, Python's result).
FUNCTIONS: Mapping[str, tuple[str, Callable[[list[float]], float]]] = {
    "SUM": ("total", math.fsum),
    "AVERAGE": ("average", statistics.fmean),
    "MAX": ("largest value", max),
    "MIN": ("smallest value", min),
}
#: The File menu's item that saves a document under another name (GTK editors).
SAVE_AS = "Save As..."
#: Extensions a saved text gets (an editor may pick its highlighting by it; the text is the same).
TEXT_SUFFIXES = (".txt", ".md", ".text")

Press = tuple[str, str]
"""(role, name) of a button to click."""
Made = tuple[str, list[str], int, dict[str, str]] | None
"""A composed goal: (task kind, button labels to press, the value shown, the phrasing's values)."""
Ops = Mapping[str, tuple[str, Callable[[int, int], int]]]


Step = dict[str, Any]
"""One oracle step in the task-file form."""
FileGoal = tuple[str, list[tuple[Step, str]], Change, dict[str, Any], dict[str, str]]
"""A composed file goal: (kind, (step, label) pairs, the change, the validator, the phrasing's values)."""


def file_manager(start: Snapshot) -> tuple[list[str], list[str]] | None:
    """Return HOME's top-level files and folders when ``start`` shows them as icons, else None.

    A file manager lists its folder as icons; the walk's start shows HOME (the profiles open
    there).
    """
    if not any(role == "icon" for role, _ in start.visible):
        return None
    return home_top(start)


def home_top(start: Snapshot) -> tuple[list[str], list[str]] | None:
    """Return HOME's top-level (files, folders) in ``start``, or None when HOME is unknown or empty.

    Hidden entries are left out, as a file manager's view and a plain ``ls`` leave them out.
    """
    if start.home is None:
        return None
    entries = start.home.entries
    top = sorted(p for p in entries if "/" not in p and not p.startswith("."))
    files = [p for p in top if entries[p].kind == "f"]
    folders = [p for p in top if entries[p].kind == "d"]
    return (files, folders) if files or folders else None


def keypad(start: Snapshot) -> tuple[dict[str, Press], NodeKey] | None:
    """Return the buttons by label and the display of a keypad in ``start``, or None without one."""
    buttons: dict[str, Press] = {}
    for role, name in sorted(start.visible):
        if role in BUTTON_ROLES and name and name not in buttons:
            buttons[name] = (role, name)
    if not all(str(d) in buttons for d in range(10)) or "=" not in buttons:
        return None
    displays = sorted((k for k in start.nodes if k.role == "text"), key=lambda k: (k.nth, k.name))
    if not displays:
        return None
    return buttons, displays[0]


def editor(start: Snapshot) -> NodeKey | None:
    """Return the empty text area of an untitled document in ``start``, or None without one.

    An editor opens with an empty document named "Untitled" in its title, and HOME is known (the
    goal is a saved file). Of several empty text nodes the first is taken: the document's area
    comes before the search fields an editor may keep hidden below it.
    """
    if start.home is None or not UNTITLED.search(start.title):
        return None
    empty = [k for k, v in start.nodes.items() if k.role == "text" and not v.text]
    return min(empty, key=lambda k: k.nth) if empty else None


def opened_text(start: Snapshot, setup: Sequence[SetupItem]) -> tuple[str, str] | None:
    """Return the text file (path under HOME) an editor shows in ``start`` and its text, or None.

    The file is one the setup wrote and opened, and the window's title names it (of several
    open files, the one shown).
    """
    opened = [a.removeprefix(HOME + "/") for s in setup if isinstance(s, LaunchStep) for a in s.args]
    shown = [p for p in opened if p.endswith(TEXT_SUFFIXES) and p.rsplit("/", 1)[-1] in start.title]
    if start.home is None or len(shown) != 1:
        return None
    text = written(setup, shown[0])
    if text is None:
        return None
    try:
        return shown[0], text.content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def workbook(start: Snapshot, setup: Sequence[SetupItem]) -> tuple[str, list[list[str]]] | None:
    """Return the workbook (path under HOME) a spreadsheet shows in ``start`` and its table, or None.

    The table is the CSV the setup wrote and converted to the workbook it opened: a header row
    of words, then rows of a word and numbers. Only a workbook whose name is in the window's
    title counts (the walk starts on it).
    """
    opened = [a for s in setup if isinstance(s, LaunchStep) for a in s.args if a.endswith(WORKBOOKS)]
    if len(opened) != 1 or not opened[0].startswith(HOME + "/"):
        return None
    book = opened[0].removeprefix(HOME + "/")
    if book.rsplit("/", 1)[-1] not in start.title:
        return None
    source = book.rsplit(".", 1)[0] + ".csv"
    table = written(setup, source)
    if table is None:
        return None
    rows = list(csv.reader(io.StringIO(table.content.decode("utf-8", "replace"))))
    if len(rows) < 3 or len({len(r) for r in rows}) != 1 or len(rows[0]) < 2:
        return None
    if not all(_numeric(v) for row in rows[1:] for v in row[1:]):
        return None
    return book, rows


#: A spreadsheet cell reference as a name box shows it.
_CELL_REF = re.compile(r"[A-Z]{1,3}[1-9][0-9]*")


def name_box(start: Snapshot) -> NodeKey | None:
    """Return the spreadsheet's name box in ``start`` (the field showing the cursor's cell), or None.

    Gnumeric and LibreOffice Calc both show it as an editable text whose text is a reference
    ('A1'); typing a reference there and Return moves the cursor to that cell, as a person jumps
    to a cell they were told.
    """
    found = [k for k, v in start.nodes.items() if k.role == "text" and _CELL_REF.fullmatch(v.text.strip())]
    return found[0] if len(found) == 1 else None


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def compose(
    walk: Walk,
    app: str,
    setup: Sequence[SetupItem],
    provenance: Mapping[str, Any],
    rng: random.Random,
    count: int = PER_WALK,
    *,
    shell: bool = False,
) -> list[Candidate]:
    """Return up to ``count`` goal candidates for ``walk``'s start state.

    Arithmetic on a keypad, formulas and values in a spreadsheet, saved text in an editor, or
    file operations in a file manager or (``shell``: the app is a terminal walked by commands)
    by commands; none for other screens.
    """
    found = keypad(walk.start)
    if found is not None:
        return _keypad_goals(walk, found, app, setup, provenance, rng, count)
    # The most particular screens first: a toolbar's icons must not make a spreadsheet a file manager.
    table = workbook(walk.start, setup)
    field = editor(walk.start)
    opened = opened_text(walk.start, setup)
    shown = file_manager(walk.start)
    listed = home_top(walk.start) if shell else None
    form = shown_form(walk.start, setup)
    goals: Sequence[FileGoal | FormGoal]
    if listed is not None:
        goals = _shell_goals(walk, listed, rng, count)
    elif table is not None:
        goals = _sheet_goals(*table, rng, count, box=name_box(walk.start))
    elif field is not None:
        goals = _editor_goals(walk, field, rng, count)
    elif opened is not None:
        goals = _opened_goals(walk, *opened, rng, count)
    elif shown is not None:
        goals = _file_goals(walk, shown, rng, count)
    elif form is not None:
        goals = form_goals(walk.start, form, rng, count)
    else:
        return []
    out: list[Candidate] = []
    for kind, steps, change, validator, values in goals:
        moves = [Move([step], label, walk.start, walk.start) for step, label in steps]
        cand = Candidate(app, kind, change, moves, {}, provenance={**provenance, "composed": True})
        quoted = {k.lstrip("_"): v if k.startswith("_") else f"'{v}'" for k, v in values.items()}
        filled = {**quoted, "app": app_name(app), "thing": app_kind(app)}
        out.append(with_chain(proposal(cand, setup, validator, filled, kind), moves))
    return out


def _namer(start: Snapshot, rng: random.Random) -> Callable[[str], str]:
    """Return a function drawing file names (with a given suffix) that HOME and earlier draws lack."""
    taken = set(start.home.entries) if start.home is not None else set()

    def fresh(suffix: str) -> str:
        for _ in range(50):
            name = file_stem(rng) + suffix
            if name not in taken:
                taken.add(name)
                return name
        raise RuntimeError("the word list is too small to draw a new file name")  # pragma: no cover

    return fresh


def _suffix(name: str) -> str:
    """Return a file name's extension with its dot ('' without one)."""
    return "." + name.rsplit(".", 1)[1] if "." in name else ""


def _distinct(makers: Sequence[Callable[[], FileGoal]], rng: random.Random, count: int) -> list[FileGoal]:
    """Return up to ``count`` goals drawn from ``makers``, the same goal drawn twice kept once."""
    goals: list[FileGoal] = []
    for _ in range(count):
        goal = rng.choice(makers)()
        if all(goal[3] != g[3] for g in goals):  # few files: the same goal can come up again
            goals.append(goal)
    return goals


def _shell_goals(
    walk: Walk, listed: tuple[list[str], list[str]], rng: random.Random, count: int
) -> list[FileGoal]:
    """Return up to ``count`` file goals a terminal reaches with one command each, over HOME's top level.

    An empty file (``touch``), a folder (``mkdir``), a rename and a move into a folder (``mv``):
    the same validators as the file manager's goals (the whole difference under HOME), typed at
    the prompt, the Return waiting on replay for the file the command makes.
    """
    files, folders = listed
    fresh = _namer(walk.start, rng)

    def run(argv: Sequence[str], made: str) -> list[tuple[Step, str]]:
        line = shlex.join(argv)
        typed, enter = command_steps(line)
        return [(typed, f"type '{line}'"), ({**enter, "until": {"file_exists": made}}, "key Return")]

    def empty() -> FileGoal:
        name = fresh(rng.choice(TEXT_SUFFIXES))
        validator = {"all": [{"changes": {"created": [name]}}, {"file_text": {"path": name, "equals": ""}}]}
        change = Change("goal/empty-file", created=(name,))
        return "goal/empty-file", run(["touch", name], name), change, validator, {"name": name}

    def folder() -> FileGoal:
        name = fresh("")
        validator = {
            "all": [{"changes": {"created": [name]}}, {"file_exists": {"path": name, "type": "dir"}}]
        }
        return (
            "goal/folder",
            run(["mkdir", name], name),
            Change("goal/folder", created=(name,)),
            validator,
            {"name": name},
        )

    def rename() -> FileGoal:
        src = rng.choice(files)
        dst = fresh(_suffix(src))
        change = Change("goal/rename", moved=((src, dst),))
        validator = {"changes": {"moved": {src: dst}}}
        return "goal/rename", run(["mv", src, dst], dst), change, validator, {"src": src, "dst": dst}

    def move() -> FileGoal:
        src, into = rng.choice(files), rng.choice(folders)
        dst = f"{into}/{src}"
        change = Change("goal/move", moved=((src, dst),))
        validator = {"changes": {"moved": {src: dst}}}
        return "goal/move", run(["mv", src, into + "/"], dst), change, validator, {"src": src, "folder": into}

    makers: list[Callable[[], FileGoal]] = [empty, folder]
    if files:
        makers.append(rename)
        if folders:
            makers.append(move)
    return _distinct(makers, rng, count)


def _file_goals(
    walk: Walk, shown: tuple[list[str], list[str]], rng: random.Random, count: int
) -> list[FileGoal]:
    """Return up to ``count`` different file goals over the files and folders ``shown``."""
    files, folders = shown
    fresh = _namer(walk.start, rng)

    def icon(name: str, count: int = 1) -> Step:
        click: Step = {"click": {"role": "icon", "text": name}}
        return {**click, "count": count} if count > 1 else click

    def rename() -> FileGoal:
        src = rng.choice(files)
        dst = fresh(_suffix(src))
        steps = [(icon(src), f"click icon '{src}'"), ({"key": "F2"}, "key F2"),
                 ({"key": "ctrl+a"}, "key ctrl+a"), ({"type": dst}, f"type '{dst}'"),
                 ({"key": "Return"}, "key Return")]  # fmt: skip
        change = Change("goal/rename", moved=((src, dst),))
        return "goal/rename", steps, change, {"changes": {"moved": {src: dst}}}, {"src": src, "dst": dst}

    def folder() -> FileGoal:
        name = fresh("")
        steps = [({"key": "ctrl+shift+n"}, "key ctrl+shift+n"), ({"key": "ctrl+a"}, "key ctrl+a"),
                 ({"type": name}, f"type '{name}'"), ({"key": "Return"}, "key Return")]  # fmt: skip
        is_dir = {"file_exists": {"path": name, "type": "dir"}}  # a file of that name is no folder
        validator = {"all": [{"changes": {"created": [name]}}, is_dir]}
        return "goal/folder", steps, Change("goal/folder", created=(name,)), validator, {"name": name}

    def move() -> FileGoal:
        src, into = rng.choice(files), rng.choice(folders)
        dst = f"{into}/{src}"
        steps = [(icon(src), f"click icon '{src}'"), ({"key": "ctrl+x"}, "key ctrl+x"),
                 (icon(into, 2), f"open icon '{into}'"), ({"key": "ctrl+v"}, "key ctrl+v")]  # fmt: skip
        change = Change("goal/move", moved=((src, dst),))
        return "goal/move", steps, change, {"changes": {"moved": {src: dst}}}, {"src": src, "folder": into}

    makers: list[Callable[[], FileGoal]] = [folder]
    if files:
        makers.append(rename)
        if folders:
            makers.append(move)
    return _distinct(makers, rng, count)


def _chooser_steps(name: str) -> list[tuple[Step, str]]:
    """Return the steps that give an open save dialog the full path of HOME's ``name`` and save."""
    path = f"{HOME}/{name}"
    return [
        ({"key": "ctrl+a"}, "key ctrl+a"),  # the dialog may offer a name already
        ({"type": path}, f"type '{path}'"),
        # GTK's file chooser checks a typed path before it lets Return save (and may open a
        # completion list that takes a Return); the second Return saves (where the first did,
        # it only adds an unsaved line). The save itself ends after the screen is calm.
        ({"key": "Return"}, "key Return"),
        ({"key": "Return", "until": {"file_exists": name}}, "key Return"),
    ]


def _editor_goals(walk: Walk, area: NodeKey, rng: random.Random, count: int) -> list[FileGoal]:
    """Return up to ``count`` "write these words and save them as NAME" goals."""
    taken = set(walk.start.home.entries) if walk.start.home is not None else set()
    goals: list[FileGoal] = []
    for _ in range(count):
        name = file_stem(rng) + rng.choice(TEXT_SUFFIXES)
        if name in taken:
            continue
        taken.add(name)
        text = " ".join(words(rng, rng.randint(2, 5)))
        steps: list[tuple[Step, str]] = [
            ({"click": area.target()}, f"click {area.describe()}"),
            ({"type": text}, f"type '{text}'"),
            ({"key": "ctrl+s"}, "key ctrl+s"),
            *_chooser_steps(name),
        ]
        saved = {"file_text": {"path": name, "equals": text}}
        validator: dict[str, Any] = {"all": [{"changes": {"created": [name]}}, saved]}
        change = Change("goal/save-text", created=(name,))
        goals.append(("goal/save-text", steps, change, validator, {"text": text, "name": name}))
    return goals


def _opened_goals(walk: Walk, path: str, text: str, rng: random.Random, count: int) -> list[FileGoal]:
    """Return up to ``count`` goals on the text file an editor shows: a line at its end or top, a copy.

    Each edits (or copies) exactly that file: the validator's ``changes`` is the whole
    difference under HOME, and the file's whole text is checked, so a line lost, a second file,
    an unsaved edit or the original changed with its copy fails.
    """
    body = text[:-1] if text.endswith("\n") else text
    fresh = _namer(walk.start, rng)

    def edited(kind: str, steps: list[tuple[Step, str]], pattern: str, line: str) -> FileGoal:
        steps = [*steps, ({"key": "ctrl+s", "until": {"file_changed": path}}, "key ctrl+s")]
        validator: dict[str, Any] = {
            "all": [{"changes": {"modified": [path]}}, {"file_text": {"path": path, "matches": pattern}}]
        }
        return kind, steps, Change(kind, modified=(path,)), validator, {"line": line, "name": path}

    def append() -> FileGoal:
        line = " ".join(words(rng, rng.randint(2, 5)))
        steps: list[tuple[Step, str]] = [
            ({"key": "ctrl+end"}, "key ctrl+end"),
            ({"key": "Return"}, "key Return"),
            ({"type": line}, f"type '{line}'"),
        ]
        pattern = re.escape(body) + r"\n\n?" + re.escape(line) if body else r"\n?" + re.escape(line)
        return edited("goal/append-line", steps, pattern, line)

    def prepend() -> FileGoal:
        line = " ".join(words(rng, rng.randint(2, 5)))
        steps: list[tuple[Step, str]] = [
            ({"key": "ctrl+home"}, "key ctrl+home"),
            ({"type": line}, f"type '{line}'"),
            ({"key": "Return"}, "key Return"),
        ]
        return edited("goal/prepend-line", steps, re.escape(line) + r"\n" + re.escape(body), line)

    def copy() -> FileGoal:
        name = fresh(_suffix(path) or rng.choice(TEXT_SUFFIXES))
        # By the File menu: editors agree on its "Save As..." item, not on a shortcut for it.
        steps: list[tuple[Step, str]] = [
            ({"click": {"role": "menu", "name": "File"}}, "click menu 'File'"),
            ({"click": {"role": "menu item", "name": SAVE_AS}}, f"click menu item '{SAVE_AS}'"),
            *_chooser_steps(name),
        ]
        same = {"file_text": {"path": name, "equals": text}}
        validator: dict[str, Any] = {"all": [{"changes": {"created": [name]}}, same]}
        change = Change("goal/save-copy", created=(name,))
        return "goal/save-copy", steps, change, validator, {"name": path, "copy": name}

    makers: list[Callable[[], FileGoal]] = [append, copy]
    if body:
        makers.append(prepend)
    return _distinct(makers, rng, count)


def _sheet_goals(
    book: str, rows: list[list[str]], rng: random.Random, count: int, *, box: NodeKey | None = None
) -> list[FileGoal]:
    """Return up to ``count`` formula or value goals on the table ``rows`` of ``book``, saved.

    The demonstration reaches the cell through the name box ``box`` when there is one (click it,
    select its text, type the reference, Return), else by arrow keys from A1.
    """
    width, height = len(rows[0]), len(rows)
    numbers = [[float(v) for v in row[1:]] for row in rows[1:]]

    def goal(kind: str, row: int, col: int, typed: str, spec: Any, values: dict[str, str]) -> FileGoal:
        cell = cell_ref(row, col)
        steps: list[tuple[Step, str]]
        if box is not None:
            steps = [({"click": box.target()}, f"click {box.describe()}"), ({"key": "ctrl+a"}, "key ctrl+a"),
                     ({"type": cell}, f"type '{cell}'"), ({"key": "Return"}, "key Return")]  # fmt: skip
        else:
            steps = [({"key": "ctrl+home"}, "key ctrl+home")]
            if row:
                steps.append(({"key": "down", "repeat": row}, f"key down x{row}"))
            if col:
                steps.append(({"key": "right", "repeat": col}, f"key right x{col}"))
        steps += [({"type": typed}, f"type '{typed}'"), ({"key": "Return"}, "key Return"),
                  ({"key": "ctrl+s", "until": {"file_changed": book}}, "key ctrl+s")]  # fmt: skip
        validator = {"sheet": {"path": book, "cells": {cell: spec}}}
        change = Change(kind, modified=(book,))
        return kind, steps, change, validator, {**values, "book": book, "cell": cell}

    def column() -> FileGoal:
        col = rng.randrange(1, width)
        name = rng.choice(sorted(FUNCTIONS))
        words_for, fn = FUNCTIONS[name]
        span = f"{cell_ref(1, col)}:{cell_ref(height - 1, col)}"
        value = fn([r[col - 1] for r in numbers])
        spec = {"value": round(value, 9), "refs": [span]}
        return goal("goal/formula", height, col, f"={name}({span})", spec, {"what": words_for, "range": span})

    def row() -> FileGoal:
        at = rng.randrange(1, height)
        name = rng.choice(sorted(FUNCTIONS))
        words_for, fn = FUNCTIONS[name]
        span = f"{cell_ref(at, 1)}:{cell_ref(at, width - 1)}"
        spec = {"value": round(fn(numbers[at - 1]), 9), "refs": [span]}
        return goal("goal/formula", at, width, f"={name}({span})", spec, {"what": words_for, "range": span})

    def value() -> FileGoal:
        at, number = rng.randrange(1, height), rng.randint(1, 999)
        return goal("goal/cell-value", at, width, str(number), number, {"n": str(number)})

    makers: list[Callable[[], FileGoal]] = [column, value] + ([row] if width >= 3 else [])
    return _distinct(makers, rng, count)


def _keypad_goals(
    walk: Walk,
    found: tuple[dict[str, Press], NodeKey],
    app: str,
    setup: Sequence[SetupItem],
    provenance: Mapping[str, Any],
    rng: random.Random,
    count: int,
) -> list[Candidate]:
    buttons, display = found
    ops = {label: spec for label, spec in OPERATORS.items() if label in buttons}
    makers: list[Callable[[], Made]] = []
    if ops:
        makers.append(lambda: _binary(rng, ops))
        if "(" in buttons and ")" in buttons and len(ops) >= 2:
            makers.append(lambda: _grouped(rng, ops))
    root = next((r for r in ROOTS if r in buttons), None)
    if root is not None:
        makers.append(lambda: _root(rng, root))
    makers.append(lambda: _number(rng))
    # A display may show modes and flags below its value (a scientific calculator's): the goal
    # asks for the value line.
    start_line, sep, rest = walk.start.nodes[display].text.partition("\n")
    start_text = start_line.strip()
    below = sep + rest
    clear = next((c for c in CLEARS if c in buttons), None)
    out: list[Candidate] = []
    for _ in range(count):
        made = rng.choice(makers)()
        if made is None:
            continue
        kind, labels, result, values = made
        if clear is not None and start_text not in ("", "0"):
            labels = [clear, *labels]
        if any(label not in buttons for label in labels) or len(labels) > MAX_PRESSES:
            continue
        presses = [buttons[label] for label in labels]
        out.append(_candidate(kind, presses, result, values, display, start_text, below, walk, app,
                              setup, provenance))  # fmt: skip
    return out


def spell(value: int) -> list[str]:
    """Return the button labels that enter ``value`` (a non-negative integer)."""
    return list(str(value))


def _binary(rng: random.Random, ops: Ops) -> Made:
    label = rng.choice(sorted(ops))
    symbol, fn = ops[label]
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    if symbol == "-" and a < b:
        a, b = b, a
    if symbol == "÷":
        b = rng.randint(2, 12)
        a = b * rng.randint(2, 30)
    result = fn(a, b)
    expr = f"{a} {symbol} {b}"
    return "goal/arithmetic", [*spell(a), label, *spell(b), "="], result, {"expr": expr}


def _grouped(rng: random.Random, ops: Ops) -> Made:
    additive = sorted(label for label in ops if ops[label][0] in "+-")
    scaling = sorted(label for label in ops if ops[label][0] == "×")
    if not additive or not scaling:
        return None
    inner, outer = rng.choice(additive), rng.choice(scaling)
    a, b, c = rng.randint(2, 60), rng.randint(2, 60), rng.randint(2, 30)
    if ops[inner][0] == "-" and a < b:
        a, b = b, a
    result = ops[outer][1](ops[inner][1](a, b), c)
    expr = f"({a} {ops[inner][0]} {b}) {ops[outer][0]} {c}"
    labels = ["(", *spell(a), inner, *spell(b), ")", outer, *spell(c), "="]
    return "goal/arithmetic", labels, result, {"expr": expr}


def _root(rng: random.Random, root: str) -> Made:
    k = rng.randint(2, 40)
    return "goal/root", [*spell(k * k), root], k, {"n": str(k * k)}


def _number(rng: random.Random) -> Made:
    n = rng.choice([rng.randint(1, 9), rng.randint(10, 999), rng.randint(1000, 99999)])
    return "goal/number", spell(n), n, {"n": str(n)}


def _candidate(
    kind: str,
    presses: Sequence[Press],
    result: int,
    values: Mapping[str, str],
    display: NodeKey,
    start_text: str,
    below: str,
    walk: Walk,
    app: str,
    setup: Sequence[SetupItem],
    provenance: Mapping[str, Any],
) -> Candidate:
    shown = str(result)
    change = Change(kind, display, walk.start.nodes[display].text, shown)
    moves = [
        Move([{"click": {"role": role, "name": name}}], f"click {role} '{name}'", walk.start, walk.start)
        for role, name in presses
    ]
    cand = Candidate(app, kind, change, moves, {}, provenance={**provenance, "composed": True})
    if shown == start_text:
        cand.rejected = "the result is what the display already shows"
        return cand
    # Below the value a display may show the last operator ('=' once evaluated), so those lines
    # are free; the value line is exact (``matches`` is a full match, '.' stays on its line).
    text = {"text_matches": re.escape(shown) + r"(\n.*)*"} if below else {"text_equals": shown}
    validator = {"a11y": {"target": display.target(), **text}}
    filled = {**values, "app": app_name(app), "thing": app_kind(app), "result": shown}
    return with_chain(proposal(cand, setup, validator, filled, kind), moves)


__all__ = [
    "FUNCTIONS",
    "OPERATORS",
    "PER_WALK",
    "compose",
    "editor",
    "file_manager",
    "keypad",
    "spell",
    "workbook",
]
