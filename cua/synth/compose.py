"""Goal-level candidates composed from what a walk found: arithmetic on a keypad it saw.

A walk over a calculator learns single moves (one button, one changed display); a person asks
for results ("what is 37 + 18"). When the walk's start state shows a keypad (buttons for every
digit and for '=') beside a text display, this module composes expressions from the operator
buttons the screen offers and proposes each as a task: the validator is the display showing the
value Python computes, the demonstration is the button presses that spell the expression and
'=' (after the clear button when the display starts non-zero). Candidates go through the same
admission as derived ones: proven from a fresh reset, shortened, checked against near misses
(a wrong digit, a dropped press), so a composed task the application does not agree with is
rejected there, never admitted on the module's word.

Nothing here reads a built-in task; the operations are arithmetic, and the phrasings are
``grammar.yaml``'s ``goal/...`` lists.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cua.synth.derive import MAX_CHAIN, Candidate, app_kind, app_name, proposal, with_chain
from cua.synth.state import Change, NodeKey, Snapshot
from cua.synth.walk import Move, Walk
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
    """Return up to ``count`` arithmetic candidates for the keypad of ``walk``'s start state."""
    found = keypad(walk.start)
    if found is None:
        return []
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
    start_text = walk.start.nodes[display].text.strip()
    if "\n" in start_text:
        return []  # a display that also shows modes and flags: no exact text to ask for
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
        out.append(_candidate(kind, presses, result, values, display, start_text, walk, app, setup,
                              provenance))  # fmt: skip
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
    walk: Walk,
    app: str,
    setup: Sequence[SetupItem],
    provenance: Mapping[str, Any],
) -> Candidate:
    shown = str(result)
    change = Change(kind, display, start_text, shown)
    moves = [
        Move([{"click": {"role": role, "name": name}}], f"click {role} '{name}'", walk.start, walk.start)
        for role, name in presses
    ]
    cand = Candidate(app, kind, change, moves, {}, provenance={**provenance, "composed": True})
    if shown == start_text:
        cand.rejected = "the result is what the display already shows"
        return cand
    if len(moves) > max(MAX_CHAIN, MAX_PRESSES):
        cand.rejected = f"{len(moves)} presses (at most {MAX_PRESSES})"
        return cand
    validator = {"a11y": {"target": display.target(), "text_equals": shown}}
    filled = {**values, "app": app_name(app), "thing": app_kind(app), "result": shown}
    return with_chain(proposal(cand, setup, validator, filled, kind), moves)


__all__ = ["OPERATORS", "PER_WALK", "compose", "keypad", "spell"]
