"""A novelty-seeking walk over an application's accessibility tree, recorded as oracle steps.

Each move acts on one visible control: untouched controls (over every walk of this explorer)
and controls that appeared after the previous move are drawn more often; an editable field gets
a click and typed text (a word from the word list, a number, or text already on the screen).
Each move is recorded in task-file form (``click``/``type``/``key`` oracle steps on role/name
targets), so a walk replays through ``cua.tasks.oracle.OracleRunner`` exactly as it ran, and
the readable state (``cua.synth.state``) is captured before and after every move.

Controls that would end the session (Quit, Close, Exit), print, or leave the application
(help browsers, links out of the sandbox) are never drawn.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cua.synth.state import Snapshot, key_of, snapshot
from cua.tasks.errors import OracleFailed, Where
from cua.tasks.oracle import OracleRunner, parse_steps
from cua.tasks.targets import a11y_tree
from sandbox.base import A11yNode, Sandbox
from sandbox.errors import SandboxError

#: Roles a person acts on.
ACTIONABLE = frozenset(
    {
        "push button",
        "toggle button",
        "check box",
        "radio button",
        "menu",
        "menu item",
        "check menu item",
        "radio menu item",
        "page tab",
        "link",
        "list item",
        "table cell",
        "tree item",
        "combo box",
        "icon",
    }
)
EDITABLE = frozenset({"text", "entry", "spin button"})
#: Names of controls a walk never uses: they end the session, print, or open other programs.
AVOID = re.compile(
    r"(?i)^(_?quit|_?close|exit|close window|close tab|print|print preview|page setup|"
    r"about|contents|help|report a bug|.*online.*|log ?out|shut ?down)\b"
)
#: Keys a walk presses now and then (closing a menu or a dialog, confirming one).
KEYS = ("Escape", "Return", "Tab")


ChosenMove = tuple[list[dict[str, Any]], str, A11yNode | None]
"""A move to make: its oracle steps (task-file form), a label, the control acted on (or None)."""
Chooser = Callable[[Sequence[A11yNode]], ChosenMove | None]


@dataclass
class Move:
    """One recorded move: its oracle steps (task-file form) and the states around it."""

    steps: list[dict[str, Any]]
    label: str
    before: Snapshot
    after: Snapshot

    @property
    def did_something(self) -> bool:
        """Return whether anything readable or visible changed."""
        return not self.before.same_screen(self.after)


@dataclass
class Walk:
    """A recorded walk: the start state and the moves, in order."""

    start: Snapshot
    moves: list[Move] = field(default_factory=list)
    ended: str = ""
    """Why the walk stopped early (the application quit, a move failed), or empty."""


@dataclass
class Novelty:
    """How often each control was acted on, over every walk of one explorer (per application)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def weight(self, node: A11yNode, new: bool) -> float:
        """Return how strongly to prefer ``node``: untouched and newly shown controls first."""
        seen = self.counts[(node.role, node.name)]
        return (1.0 / (1 + seen)) * (3.0 if new else 1.0)


def actionable(nodes: Sequence[A11yNode]) -> list[A11yNode]:
    """Return the controls a walk may act on now."""
    out = []
    for n in nodes:
        if n.role not in ACTIONABLE and not (n.role in EDITABLE and "editable" in n.states):
            continue
        if n.bbox[2] < 4 or n.bbox[3] < 4:
            continue  # the tree lists visible, enabled nodes; a sliver cannot be clicked reliably
        if n.name and AVOID.match(n.name.strip().replace("_", "")):
            continue
        if n.role not in EDITABLE and not n.name:
            continue  # an unnamed button cannot be named in an instruction or found again reliably
        out.append(n)
    return out


def choose_move(
    nodes: Sequence[A11yNode],
    previous: frozenset[tuple[str, str]],
    novelty: Novelty,
    rng: random.Random,
    text_pool: Callable[[random.Random], str],
) -> ChosenMove:
    """Draw the next move: its oracle steps, a label, and the control it acts on (None for a key)."""
    controls = actionable(nodes)
    if not controls or rng.random() < 0.08:
        key = rng.choice(KEYS)
        return [{"key": key}], f"key {key}", None
    weights = [novelty.weight(n, (n.role, n.name) not in previous) for n in controls]
    node = rng.choices(controls, weights)[0]
    target = key_of(node, nodes).target()
    if node.role in EDITABLE:
        text = text_pool(rng)
        steps: list[dict[str, Any]] = [{"click": target}, {"key": "ctrl+a"}, {"type": text}]
        if rng.random() < 0.5:
            steps.append({"key": "Return"})
        return steps, f"type {text!r} into {_describe(node)}", node
    return [{"click": target}], f"click {_describe(node)}", node


def _describe(node: A11yNode) -> str:
    return f"{node.role} '{node.name}'" if node.name else node.role


def _add_until(
    steps: list[dict[str, Any]], before: Snapshot, after: Snapshot, nodes: Sequence[A11yNode]
) -> None:
    """Make the move's last step wait, on replay, for what the move visibly did.

    A replay runs faster than the walk (which read the state back after every move): without
    a wait, the next move can act before a window that this move opened has appeared.
    """
    if after.title != before.title and after.title:
        steps[-1]["until"] = {"title": f"^{re.escape(after.title)}$"}
        return
    appeared = after.visible - before.visible
    for node in nodes:
        if (node.role, node.name) in appeared and node.name and node.role in ACTIONABLE:
            steps[-1]["until"] = {"node": {"role": node.role, "name": node.name}}
            return


def walk(
    sandbox: Sandbox,
    volatile: Sequence[str],
    rng: random.Random,
    *,
    moves: int,
    novelty: Novelty,
    text_pool: Callable[[random.Random], str],
    settle_s: float = 0.2,
    chooser: Chooser | None = None,
) -> Walk:
    """Walk the application already started in ``sandbox`` for up to ``moves`` moves.

    ``chooser`` replaces the novelty-seeking choice (a scripted walk, for tests and for replaying
    a person's demonstration as a walk); it may return None to end the walk.
    """
    nodes = a11y_tree(sandbox)
    start = snapshot(sandbox, volatile, nodes)
    out = Walk(start)
    current = start
    previous = frozenset((n.role, n.name) for n in nodes)
    runner = OracleRunner(sandbox, settle_s=settle_s)
    for _ in range(moves):
        if chooser is not None:
            chosen = chooser(nodes)
            if chosen is None:
                break
            steps, label, node = chosen
        else:
            steps, label, node = choose_move(nodes, previous, novelty, rng, text_pool)
        try:
            runner.run(parse_steps(steps, Where("walk")))
        except (OracleFailed, SandboxError) as exc:
            out.ended = f"{label}: {exc}"
            break
        if node is not None:
            novelty.counts[(node.role, node.name)] += 1
        previous = frozenset((n.role, n.name) for n in nodes)
        try:
            nodes = a11y_tree(sandbox)
            after = snapshot(sandbox, volatile, nodes, current)
        except SandboxError as exc:
            out.ended = f"after {label}: {exc}"
            break
        _add_until(steps, current, after, nodes)
        out.moves.append(Move(steps, label, current, after))
        current = after
        if not sandbox.observe().app_running:
            out.ended = f"the application quit after {label}"
            break
    return out
