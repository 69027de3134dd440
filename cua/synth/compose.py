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
folder, paste), admitted like any candidate.

Nothing here reads a built-in task; the operations are arithmetic and file moves, and the
phrasings are ``grammar.yaml``'s ``goal/...`` lists.
"""

from __future__ import annotations

import operator
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cua.synth.derive import Candidate, app_kind, app_name, proposal, with_chain
from cua.synth.state import Change, NodeKey, Snapshot
from cua.synth.walk import Move, Walk
from cua.synth.words import file_stem
from cua.tasks.spec import SetupItem

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
    there). Hidden entries are left out, as the view leaves them out.
    """
    if start.home is None or not any(role == "icon" for role, _ in start.visible):
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


def compose(walk: Walk, app: str, setup: Sequence[SetupItem], provenance: Mapping[str, Any],
            rng: random.Random, count: int = PER_WALK) -> list[Candidate]:  # fmt: skip
    """Return up to ``count`` goal candidates for ``walk``'s start state.

    Arithmetic on a keypad, or file operations in a file manager; none for other screens.
    """
    found = keypad(walk.start)
    if found is not None:
        return _keypad_goals(walk, found, app, setup, provenance, rng, count)
    shown = file_manager(walk.start)
    if shown is None:
        return []
    out: list[Candidate] = []
    for kind, steps, change, validator, values in _file_goals(walk, shown, rng, count):
        moves = [Move([step], label, walk.start, walk.start) for step, label in steps]
        cand = Candidate(app, kind, change, moves, {}, provenance={**provenance, "composed": True})
        quoted = {k: f"'{v}'" for k, v in values.items()}
        filled = {**quoted, "app": app_name(app), "thing": app_kind(app)}
        out.append(with_chain(proposal(cand, setup, validator, filled, kind), moves))
    return out


def _file_goals(
    walk: Walk, shown: tuple[list[str], list[str]], rng: random.Random, count: int
) -> list[FileGoal]:
    """Return up to ``count`` different file goals over the files and folders ``shown``."""
    files, folders = shown
    taken = set(walk.start.home.entries) if walk.start.home is not None else set()

    def fresh(suffix: str = "") -> str:
        for _ in range(50):
            name = file_stem(rng) + suffix
            if name not in taken:
                taken.add(name)
                return name
        raise RuntimeError("the word list is too small to draw a new file name")  # pragma: no cover

    def icon(name: str, count: int = 1) -> Step:
        click: Step = {"click": {"role": "icon", "text": name}}
        return {**click, "count": count} if count > 1 else click

    def rename() -> FileGoal:
        src = rng.choice(files)
        dst = fresh("." + src.rsplit(".", 1)[1] if "." in src else "")
        steps = [(icon(src), f"click icon '{src}'"), ({"key": "F2"}, "key F2"),
                 ({"key": "ctrl+a"}, "key ctrl+a"), ({"type": dst}, f"type '{dst}'"),
                 ({"key": "Return"}, "key Return")]  # fmt: skip
        change = Change("goal/rename", moved=((src, dst),))
        return "goal/rename", steps, change, {"changes": {"moved": {src: dst}}}, {"src": src, "dst": dst}

    def folder() -> FileGoal:
        name = fresh()
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
    goals: list[FileGoal] = []
    for _ in range(count):
        goal = rng.choice(makers)()
        if all(goal[3] != g[3] for g in goals):  # the same goal drawn twice (few files): keep one
            goals.append(goal)
    return goals


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


__all__ = ["OPERATORS", "PER_WALK", "compose", "file_manager", "keypad", "spell"]
