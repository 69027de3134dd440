"""Editor goals ("write these words and save them as NAME"), proven in real editors and hard to fool."""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from cua.synth.admit import admit
from cua.synth.compose import FUNCTIONS, compose, editor, name_box, workbook
from cua.synth.derive import Candidate
from cua.synth.seeds import seed_task
from cua.synth.state import NodeKey, NodeValue, Snapshot
from cua.synth.walk import Novelty, Walk, walk
from cua.tasks.runner import start, volatile_paths
from cua.tasks.spec import LaunchStep, TaskSpec
from cua.tasks.validators.book import cell_index, cell_ref
from cua.tasks.validators.home import Entry, HomeListing
from sandbox.profile import WriteFile
from sandbox.xvfb import XvfbSandbox
from tests.cua.synth.outcomes import judged

HOME = {"notes.txt": Entry("f", 12, "a"), ".config": Entry("d")}
AREA = NodeKey("text", "", 0)


def snap(title: str = "Untitled 1 - Mousepad", text: str = "", home: bool = True) -> Snapshot:
    nodes = {AREA: NodeValue(text, frozenset()), NodeKey("text", "", 1): NodeValue("", frozenset())}
    return Snapshot(nodes, title, HomeListing(HOME) if home else None, frozenset({("text", "")}))


def test_an_editor_is_an_untitled_window_with_an_empty_text_area() -> None:
    assert editor(snap()) == AREA  # the first of the empty text nodes
    assert editor(snap(title="untitled - Geany (new instance)")) == AREA
    assert editor(snap(title="notes.txt - Mousepad")) is None  # a file is open: no new document
    assert editor(snap(text="some words")) == NodeKey("text", "", 1)  # only empty areas count
    assert editor(snap(home=False)) is None  # HOME unknown: the saved file cannot be judged


def test_editor_goals_save_their_words_under_a_new_name_and_check_the_whole_home() -> None:
    cands = compose(Walk(snap(), [], "done"), "mousepad", [], {}, random.Random(0), count=10)
    assert cands and {c.kind for c in cands} == {"goal/save-text"}
    for c in cands:
        created, saved = c.document["validator"]["all"]
        (name,) = created["changes"]["created"]
        text = saved["file_text"]["equals"]
        assert saved["file_text"]["path"] == name and name not in HOME and re.fullmatch(r"[a-z ]+", text)
        assert f"'{text}'" in c.document["instruction"] and f"'{name}'" in c.document["instruction"]
        steps = c.document["oracle"]
        assert steps[1] == {"type": text} and steps[2] == {"key": "ctrl+s"}
        assert steps[4] == {"type": f"/home/user/{name}"}  # a full path: the dialog's folder does not matter
        assert c.provenance["composed"] and c.document["generated"] == "walk"


NOTES = "first line here\nsecond one\n"
NOTES_SETUP = (WriteFile("notes.txt", NOTES.encode()), LaunchStep(("/home/user/notes.txt",)))


def opened_goals(setup: tuple[Any, ...] = NOTES_SETUP, draws: int = 8) -> dict[str, list[Candidate]]:
    """The goals composed for an editor showing notes.txt, by kind, over several draws."""
    shown = snap(title="notes.txt - Mousepad")
    out: dict[str, list[Candidate]] = {}
    for seed in range(draws):
        for c in compose(Walk(shown, [], "done"), "mousepad", setup, {}, random.Random(seed), count=2):
            out.setdefault(c.kind, []).append(c)
    return out


def test_an_opened_file_gets_line_and_copy_goals_that_keep_its_text() -> None:
    goals = opened_goals()
    assert set(goals) == {"goal/append-line", "goal/prepend-line", "goal/save-copy"}
    for c in goals["goal/append-line"]:
        changed, text = c.document["validator"]["all"]
        assert changed == {"changes": {"modified": ["notes.txt"]}}
        line = next(s["type"] for s in c.document["oracle"] if "type" in s)
        pattern = text["file_text"]["matches"]
        assert re.fullmatch(pattern, NOTES + line) and re.fullmatch(pattern, NOTES + "\n" + line)
        assert not re.fullmatch(pattern, NOTES) and not re.fullmatch(pattern, line + "\n" + NOTES)
        assert not re.fullmatch(pattern, "first line here\n" + line)  # a line lost on the way
    for c in goals["goal/prepend-line"]:
        changed, text = c.document["validator"]["all"]
        assert changed == {"changes": {"modified": ["notes.txt"]}}
        line = next(s["type"] for s in c.document["oracle"] if "type" in s)
        pattern = text["file_text"]["matches"]
        assert re.fullmatch(pattern, line + "\n" + NOTES[:-1])
        assert not re.fullmatch(pattern, NOTES + line)  # at the end, not the top
        assert not re.fullmatch(pattern, line + NOTES[:-1])  # joined to the old first line
        assert not re.fullmatch(pattern, line + "\nsecond one")  # the old first line overwritten
    for c in goals["goal/save-copy"]:
        created, same = c.document["validator"]["all"]
        (name,) = created["changes"]["created"]
        assert name != "notes.txt" and name.endswith(".txt") and name not in HOME
        assert same == {"file_text": {"path": name, "equals": NOTES}}
        assert any(s.get("type") == f"/home/user/{name}" for s in c.document["oracle"])
    # Another file shown, or none of the opened ones: no goal about this file.
    assert compose(Walk(snap(title="other.txt - Mousepad"), [], "done"), "mousepad", NOTES_SETUP, {},
                   random.Random(0)) == []  # fmt: skip
    # An empty file has no top line to go above: no prepend goal.
    empty = (WriteFile("notes.txt", b""), NOTES_SETUP[1])
    assert "goal/prepend-line" not in opened_goals(empty)


def untitled_seed(app: str) -> TaskSpec:
    """The first seed of ``app`` that opens no file: the editor starts on a new document."""
    for index in range(40):
        seed = seed_task(app, random.Random(f"editor:{app}:{index}"), index)
        if any(isinstance(s, LaunchStep) and not s.args for s in seed.setup):
            return seed
    raise AssertionError(f"no untitled seed for {app} in 40 draws")


@pytest.fixture(scope="module", params=["mousepad", "geany"])
def started(request: pytest.FixtureRequest) -> Iterator[tuple[XvfbSandbox, TaskSpec, Walk, str]]:
    app = request.param
    seed = untitled_seed(app)
    with XvfbSandbox() as sb:
        start(sb, seed)
        w = walk(sb, volatile_paths(seed), random.Random(0), moves=1, novelty=Novelty(),
                 text_pool=lambda r: "word", chooser=lambda nodes: None)  # fmt: skip
        yield sb, seed, w, app


def goal(w: Walk, seed: TaskSpec, app: str) -> Candidate:
    (cand,) = compose(w, app, seed.setup, {}, random.Random(3), count=1)
    return cand


@pytest.mark.x11
def test_admission_proves_the_save_goal(started: tuple[XvfbSandbox, TaskSpec, Walk, str]) -> None:
    sb, seed, w, app = started
    assert editor(w.start) is not None, w.start.title
    report = admit(sb, [goal(w, seed, app)], random.Random(2), random_actions=3, gui_near_misses=False)
    (decision,) = report.decisions
    assert decision.admitted, decision.reason


def reached(sb: XvfbSandbox, cand: Candidate, *commands: str) -> bool:
    """Start ``cand``'s task, reach a state by shell ``commands`` in HOME, and validate it."""
    return judged(sb, cand.document, *commands)


@pytest.mark.x11
def test_the_save_goal_fails_wrong_outcomes_and_passes_another_route(
    started: tuple[XvfbSandbox, TaskSpec, Walk, str],
) -> None:
    sb, seed, w, app = started
    cand = goal(w, seed, app)
    created, saved = cand.document["validator"]["all"]
    (name,) = created["changes"]["created"]
    text = saved["file_text"]["equals"]
    first = text.split()[0]
    seeded = next(s.path for s in seed.setup if isinstance(s, WriteFile)).removeprefix("/home/user/")
    assert reached(sb, cand, f"printf '%s\\n' '{text}' > {name}")  # written by the shell: a pass
    assert not reached(sb, cand)  # typed, never saved: no file
    assert not reached(sb, cand, f"printf '%s' '{first}' > {name}")  # saved before the last word
    assert not reached(sb, cand, f"printf '%s' '{text.upper()}' > {name}")  # other words
    assert not reached(sb, cand, f"printf '%s' '{text}' > other-{name}")  # another name
    assert not reached(sb, cand, f"printf '%s' '{text}' > {name}", f"rm {seeded}")  # damage besides
    assert not reached(sb, cand, f"printf '%s' '{text}' > {name}", f"cp {name} copy-{name}")  # a second file
    # The oracle itself, run through the editor, passes from a fresh start (admission does this too).
    assert judged(sb, cand.document, run=True)


# -- spreadsheets ------------------------------------------------------------------------------

TABLE = "item,count,price\npear,3,1.50\nfig,-2,12.25\nplum,10,0.75\n"
BOOK_SETUP = (
    WriteFile("crate.csv", TABLE.encode()),
    LaunchStep(("/home/user/crate.gnumeric",)),
)


def sheet_snap(title: str = "crate.gnumeric - Gnumeric") -> Snapshot:
    return Snapshot({}, title, HomeListing({"crate.gnumeric": Entry("f", 900, "x")}), frozenset())


def test_a_workbook_is_the_opened_table_the_setup_wrote() -> None:
    book, rows = workbook(sheet_snap(), BOOK_SETUP) or ("", [])
    assert book == "crate.gnumeric" and rows[0] == ["item", "count", "price"] and len(rows) == 4
    assert workbook(sheet_snap("Book1 - Gnumeric"), BOOK_SETUP) is None  # another workbook shows
    assert workbook(sheet_snap(), BOOK_SETUP[1:]) is None  # no table written: nothing to compute on
    words_only = (WriteFile("crate.csv", b"a,b\nc,d\ne,f\n"), BOOK_SETUP[1])
    assert workbook(sheet_snap(), words_only) is None  # no numbers below the header


def test_sheet_goals_reach_their_cell_through_the_name_box_when_there_is_one() -> None:
    snap = sheet_snap()
    fields = {
        NodeKey("text", "", 1): NodeValue("A1", frozenset()),
        NodeKey("text", "", 0): NodeValue("100%", frozenset()),
    }
    boxed = Snapshot(fields, snap.title, snap.home)
    for cand in compose(Walk(boxed, [], "done"), "gnumeric", BOOK_SETUP, {}, random.Random(0), count=6):
        ((cell, _),) = cand.document["validator"]["sheet"]["cells"].items()
        click, select, ref, enter, *_ = cand.document["oracle"]
        assert click == {"click": {"role": "text", "nth": 1}} and select == {"key": "ctrl+a"}
        assert ref == {"type": cell} and enter == {"key": "Return"} and cell in cand.document["instruction"]
    assert name_box(snap) is None  # no name box: arrow keys from A1 (the test below)


def test_sheet_goals_compute_their_value_and_name_their_range() -> None:
    cands = compose(Walk(sheet_snap(), [], "done"), "gnumeric", BOOK_SETUP, {}, random.Random(0), count=40)
    kinds = {c.kind for c in cands}
    assert kinds == {"goal/formula", "goal/cell-value"}
    columns: dict[str, list[float]] = {"B": [3, -2, 10], "C": [1.5, 12.25, 0.75]}
    rows: dict[int, list[float]] = {2: [3, 1.5], 3: [-2, 12.25], 4: [10, 0.75]}
    seen_funcs = set()
    for c in cands:
        sheet = c.document["validator"]["sheet"]
        assert sheet["path"] == "crate.gnumeric" and "others" not in sheet  # every other cell unchanged
        ((cell, spec),) = sheet["cells"].items()
        typed = next(s["type"] for s in c.document["oracle"] if "type" in s)
        assert c.document["oracle"][-1] == {"key": "ctrl+s", "until": {"file_changed": "crate.gnumeric"}}
        if c.kind == "goal/cell-value":
            assert cell[0] == "D" and typed == str(spec) and isinstance(spec, int)
            continue
        (span,) = spec["refs"]
        func = typed[1:].split("(")[0]
        seen_funcs.add(func)
        assert typed == f"={func}({span})" and span in c.document["instruction"]
        first, last = span.split(":")
        values = columns[first[0]] if first[0] == last[0] else rows[int(first[1:])]
        if first[0] == last[0]:
            assert cell == f"{first[0]}5" and (first[1:], last[1:]) == ("2", "4")  # just below the column
        else:
            assert cell == f"D{first[1:]}" and (first[0], last[0]) == ("B", "C")  # just right of the row
        expected = {
            "SUM": sum(values),
            "MAX": max(values),
            "MIN": min(values),
            "AVERAGE": sum(values) / len(values),
        }[func]
        assert abs(spec["value"] - expected) < 1e-9
    assert seen_funcs == set(FUNCTIONS)


@pytest.fixture(scope="module", params=["gnumeric", "libreoffice-calc"])
def sheet_started(request: pytest.FixtureRequest) -> Iterator[tuple[XvfbSandbox, TaskSpec, Walk, str]]:
    app = request.param
    seed = seed_task(app, random.Random(f"sheet:{app}"), 0)
    with XvfbSandbox() as sb:
        start(sb, seed)
        w = walk(sb, volatile_paths(seed), random.Random(0), moves=1, novelty=Novelty(),
                 text_pool=lambda r: "word", chooser=lambda nodes: None)  # fmt: skip
        yield sb, seed, w, app


def sheet_goals(w: Walk, seed: TaskSpec, app: str) -> dict[str, Candidate]:
    found: dict[str, Candidate] = {}
    for c in compose(w, app, seed.setup, {}, random.Random(5), count=12):
        found.setdefault(c.kind, c)
    assert set(found) == {"goal/formula", "goal/cell-value"}, [c.kind for c in found.values()]
    return found


@pytest.mark.x11
def test_admission_proves_sheet_goals(sheet_started: tuple[XvfbSandbox, TaskSpec, Walk, str]) -> None:
    sb, seed, w, app = sheet_started
    assert workbook(w.start, seed.setup) is not None, w.start.title
    goals = sheet_goals(w, seed, app)
    report = admit(sb, list(goals.values()), random.Random(2), random_actions=3, gui_near_misses=False)
    for d in report.decisions:
        assert d.admitted, (app, d.candidate.kind, d.reason)


def demonstrated(sb: XvfbSandbox, cand: Candidate, typed: str | None = None, save: bool = True) -> bool:
    """Run ``cand``'s demonstration with another text typed (or without saving) and validate it."""
    doc = copy.deepcopy(cand.document)
    steps = doc["oracle"]
    if typed is not None:
        [*_, last] = (s for s in steps if "type" in s)  # the value or formula (a reference comes first)
        last["type"] = typed
    if not save:
        steps[:] = [s for s in steps if s.get("key") != "ctrl+s"]
    return judged(sb, doc, run=True)


@pytest.mark.x11
def test_a_formula_goal_fails_wrong_outcomes_and_passes_another_route(
    sheet_started: tuple[XvfbSandbox, TaskSpec, Walk, str],
) -> None:
    sb, seed, w, app = sheet_started
    cand = sheet_goals(w, seed, app)["goal/formula"]
    ((_, spec),) = cand.document["validator"]["sheet"]["cells"].items()
    (span,) = spec["refs"]
    first, last = span.split(":")
    (r0, c0), (r1, c1) = cell_index(first), cell_index(last)
    cells = [cell_ref(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
    [*_, typed] = (s["type"] for s in cand.document["oracle"] if "type" in s)
    function = typed[1:].split("(")[0]
    # Another route to the same formula: the cells added one by one, or the range written backwards.
    spelled = "=" + "+".join(cells) if function == "SUM" else f"={function}({last}:{first})"
    assert demonstrated(sb, cand, typed=spelled)
    assert not demonstrated(sb, cand, typed=str(spec["value"]))  # the value typed, not a formula
    short = f"{first}:{cells[-2]}" if len(cells) > 2 else cells[0]
    assert not demonstrated(sb, cand, typed=f"={function}({short})")  # one cell short
    assert not demonstrated(sb, cand, save=False)  # right, never saved
    # Right, and a cell of the table overwritten on the way.
    doc = copy.deepcopy(cand.document)
    doc["oracle"][:0] = [{"key": "ctrl+home"}, {"key": "down"}, {"type": "999"}, {"key": "Return"}]
    assert not judged(sb, doc, run=True)


@pytest.mark.x11
def test_a_value_goal_fails_a_formula_and_another_cell(
    sheet_started: tuple[XvfbSandbox, TaskSpec, Walk, str],
) -> None:
    sb, seed, w, app = sheet_started
    cand = sheet_goals(w, seed, app)["goal/cell-value"]
    ((cell, number),) = cand.document["validator"]["sheet"]["cells"].items()
    assert "click" in cand.document["oracle"][0]  # both apps show a name box: the cell is reached there
    assert demonstrated(sb, cand)
    assert not demonstrated(sb, cand, typed=f"={number - 1}+1")  # the value, but by a formula
    assert not demonstrated(sb, cand, typed=str(number + 1))  # another number
    doc = copy.deepcopy(cand.document)
    row, col = cell_index(cell)
    next(s for s in doc["oracle"] if "type" in s)["type"] = cell_ref(row, col + 1)  # another cell
    assert not judged(sb, doc, run=True)
    # Another route to the right cell: from A1 by the arrow keys.
    doc = copy.deepcopy(cand.document)
    arrows = [{"key": "ctrl+home"}, {"key": "down", "repeat": row}, {"key": "right", "repeat": col}]
    doc["oracle"][:4] = arrows
    assert judged(sb, doc, run=True)


def opened_seed(app: str) -> TaskSpec:
    """The first seed of ``app`` that opens a file."""
    for index in range(40):
        seed = seed_task(app, random.Random(f"append:{app}:{index}"), index)
        if any(isinstance(s, LaunchStep) and s.args for s in seed.setup):
            return seed
    raise AssertionError(f"no seed opening a file for {app} in 40 draws")


def opened_goal(sb: XvfbSandbox, seed: TaskSpec, app: str, kind: str) -> Candidate:
    """Walk ``seed`` (started on ``sb``) once and compose until a goal of ``kind`` comes up."""
    start(sb, seed)
    w = walk(sb, volatile_paths(seed), random.Random(0), moves=1, novelty=Novelty(),
             text_pool=lambda r: "word", chooser=lambda nodes: None)  # fmt: skip
    for draw in range(40):
        for cand in compose(w, app, seed.setup, {}, random.Random(draw), count=2):
            if cand.kind == kind:
                return cand
    raise AssertionError(f"no {kind} goal in 40 draws on {w.start.title!r}")


def admitted(sb: XvfbSandbox, cand: Candidate) -> None:
    """Admit ``cand`` with the near misses made in the editor too (leaving out a step must fail)."""
    (decision,) = admit(sb, [cand], random.Random(2), random_actions=3, gui_near_misses=True).decisions
    assert decision.admitted, decision.reason


@pytest.mark.x11
@pytest.mark.parametrize("app", ["mousepad", "geany"])
def test_append_goals_are_proven_and_hard_to_fool(app: str) -> None:
    seed = opened_seed(app)
    with XvfbSandbox() as sb:
        cand = opened_goal(sb, seed, app, "goal/append-line")
        admitted(sb, cand)
        (path,) = cand.document["validator"]["all"][0]["changes"]["modified"]
        line = next(s["type"] for s in cand.document["oracle"] if "type" in s)
        assert reached(sb, cand, f"printf '%s\\n' '{line}' >> {path}")  # the shell's append: a pass
        assert not reached(sb, cand, f"printf '%s\\n' '{line}' > {path}")  # the old text lost
        assert not reached(sb, cand, f"sed -i '1i {line}' {path}")  # at the top, not the end
        assert not reached(
            sb, cand, f"printf '%s\\n' '{line}' >> {path}", f"touch {path}.bak"
        )  # a file besides
        assert not demonstrated(sb, cand, save=False)  # typed, never saved
        assert not demonstrated(sb, cand, typed=line.upper())  # another line


@pytest.mark.x11
@pytest.mark.parametrize("app", ["mousepad", "geany"])
def test_prepend_goals_are_proven_and_hard_to_fool(app: str) -> None:
    seed = opened_seed(app)
    with XvfbSandbox() as sb:
        cand = opened_goal(sb, seed, app, "goal/prepend-line")
        admitted(sb, cand)
        (path,) = cand.document["validator"]["all"][0]["changes"]["modified"]
        line = next(s["type"] for s in cand.document["oracle"] if "type" in s)
        assert reached(sb, cand, f"sed -i '1i {line}' {path}")  # the shell's insert: a pass
        assert not reached(sb, cand, f"printf '%s\\n' '{line}' >> {path}")  # at the end, not the top
        assert not reached(sb, cand, f"sed -i '1s/^/{line}/' {path}")  # joined to the first line
        assert not reached(sb, cand, f"sed -i '1c {line}' {path}")  # the first line overwritten
        assert not reached(sb, cand, f"sed -i '1i {line}' {path}", f"cp {path} b-{path}")  # a file besides
        assert not demonstrated(sb, cand, save=False)  # typed, never saved
        assert not demonstrated(sb, cand, typed=line.upper())  # another line


@pytest.mark.x11
@pytest.mark.parametrize("app", ["mousepad", "geany"])
def test_copy_goals_are_proven_and_hard_to_fool(app: str) -> None:
    seed = opened_seed(app)
    with XvfbSandbox() as sb:
        cand = opened_goal(sb, seed, app, "goal/save-copy")
        admitted(sb, cand)
        (name,) = cand.document["validator"]["all"][0]["changes"]["created"]
        original = next(s.path for s in seed.setup if isinstance(s, WriteFile)).removeprefix("/home/user/")
        assert reached(sb, cand, f"cp {original} {name}")  # copied by the shell: a pass
        assert not reached(sb, cand, f"mv {original} {name}")  # moved, not copied
        assert not reached(sb, cand, f"cp {original} {name}", f"echo x >> {original}")  # the original changed
        assert not reached(sb, cand, f"cp {original} {name}", f"echo x >> {name}")  # the copy differs
        assert not reached(sb, cand, f"cp {original} other-{name}")  # another name
        assert not reached(sb, cand, f"cp {original} {name}", f"cp {original} {name}.bak")  # a second copy
        assert not reached(sb, cand)  # nothing saved
