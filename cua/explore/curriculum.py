"""The curriculum: which admitted tasks to attempt next, from the success per task kind.

Per task kind, the success rate over its last ``WINDOW`` attempts decides:

- above ``HARDER`` (70 %): *harder*: the kind's longest chains first;
- between ``PREREQUISITES`` (30 %) and 70 %: *lateral*: the kind's least attempted tasks, so
  success is measured across its variety;
- below 30 %: *prerequisites*: the kind's shortest chains (its single-step pieces) first;
- a kind whose estimated success was outside 5–75 % for ``REST_WINDOWS`` windows in a row is
  *rested*: attempting it teaches nothing (always solved, or never). A kind with fewer than
  ``MIN_ATTEMPTS`` attempts is *new*: its tasks are attempted in admission order.

Every decision is returned with the figures it was made on, for the exploration's log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

WINDOW = 20
HARDER = 0.70
PREREQUISITES = 0.30
REST_LOW, REST_HIGH = 0.05, 0.75
REST_WINDOWS = 3
MIN_ATTEMPTS = 5


@dataclass(frozen=True)
class Attempt:
    """One attempt at an admitted task."""

    task_id: str
    kind: str
    success: bool


@dataclass(frozen=True)
class TaskChoice:
    """An admitted task the curriculum may pick."""

    task_id: str
    kind: str
    chain: int


@dataclass(frozen=True)
class Decision:
    """What the curriculum decided for one kind, and on what figures."""

    kind: str
    decision: str
    """new, harder, lateral, prerequisites or rested."""
    success: float | None
    attempts: int
    windows_outside: int

    def figures(self) -> dict[str, float | int | None]:
        """Return the figures, for the log."""
        return {"success": self.success, "attempts": self.attempts, "windows_outside": self.windows_outside}


def decide(kind: str, history: Sequence[Attempt]) -> Decision:
    """Return the decision for ``kind`` from its attempts (oldest first)."""
    mine = [a.success for a in history if a.kind == kind]
    if len(mine) < MIN_ATTEMPTS:
        return Decision(kind, "new", None, len(mine), 0)
    recent = mine[-WINDOW:]
    rate = sum(recent) / len(recent)
    outside = 0
    # Consecutive full windows (newest first) whose rate was outside the useful band.
    for end in range(len(mine), 0, -WINDOW):
        window = mine[max(0, end - WINDOW) : end]
        if len(window) < min(WINDOW, MIN_ATTEMPTS):
            break
        r = sum(window) / len(window)
        if REST_LOW <= r <= REST_HIGH:
            break
        outside += 1
    if outside >= REST_WINDOWS:
        return Decision(kind, "rested", rate, len(mine), outside)
    if rate > HARDER:
        return Decision(kind, "harder", rate, len(mine), outside)
    if rate < PREREQUISITES:
        return Decision(kind, "prerequisites", rate, len(mine), outside)
    return Decision(kind, "lateral", rate, len(mine), outside)


def choose(
    tasks: Sequence[TaskChoice], history: Sequence[Attempt], count: int
) -> tuple[list[TaskChoice], list[Decision]]:
    """Return up to ``count`` tasks to attempt next and the decision made for each kind."""
    by_kind: dict[str, list[TaskChoice]] = defaultdict(list)
    for t in tasks:
        by_kind[t.kind].append(t)
    tries: dict[str, int] = defaultdict(int)
    for a in history:
        tries[a.task_id] += 1
    decisions = [decide(kind, history) for kind in sorted(by_kind)]
    queues: list[list[TaskChoice]] = []
    for d in decisions:
        pool = by_kind[d.kind]
        if d.decision == "rested":
            continue
        if d.decision == "harder":
            order = sorted(pool, key=lambda t: (-t.chain, tries[t.task_id]))
        elif d.decision == "prerequisites":
            order = sorted(pool, key=lambda t: (t.chain, tries[t.task_id]))
        else:  # new, lateral: the least attempted first, in admission order
            order = sorted(pool, key=lambda t: tries[t.task_id])
        queues.append(order)
    # Round-robin over kinds, so that no kind crowds out the others.
    chosen: list[TaskChoice] = []
    while len(chosen) < count and any(queues):
        for q in queues:
            if q and len(chosen) < count:
                chosen.append(q.pop(0))
    return chosen, decisions
