"""Admission of synthesized candidates: proven by their own demonstration, never trivial, no duplicates.

A candidate becomes a task only if all of this holds, checked in this order (the first failure
is its rejection reason, and every rejection is counted by reason):

- it could be written at all (``derive`` gives a reason when not) and its document loads;
- its canonical validator is new (same app, same validator: a duplicate);
- the validator fails on the start state (the seed as set up, nothing done);
- it is not trivial: it fails after each of up to ``RANDOM_ACTIONS`` random single actions from
  the start state (one reset each; every pending candidate is judged after the same action);
- proven: its demonstration (the walk's chain of moves) replayed from a fresh reset passes, and
  the validator fails before every move of the chain but the first (every proper prefix);
- shortened: every move the outcome does not need goes (replayed from a fresh reset without it,
  the validator still passes), so each move of a kept demonstration matters, and the shorter
  chain is proven again as above;
- every near miss that ``cua.tasks.nearmiss.generate`` derives from its start → end diff fails.

A template task (``cua.synth.templates``) has no demonstration: after the checks up to triviality
it is admitted *unproven* (``Admission.proven`` false); an attempt that passes proves it later.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from cua.synth.derive import Candidate, with_chain
from cua.synth.walk import Novelty, choose_move
from cua.tasks.errors import OracleFailed, TaskError, TaskSpecError, Where
from cua.tasks.nearmiss import PER_OPERATOR, STABLE_S, generate
from cua.tasks.oracle import OracleRunner, OracleStep, parse_steps
from cua.tasks.runner import record_baseline, start, validate
from cua.tasks.spec import TaskSpec, parse_document
from cua.tasks.targets import a11y_tree
from cua.tasks.validators import Baseline, Move, ValidatorVerdict
from sandbox.base import Sandbox
from sandbox.errors import SandboxError

#: Random single actions a candidate must survive (the issue: 20).
RANDOM_ACTIONS = 20
RandomMove = Callable[[random.Random], "tuple[list[dict[str, Any]], str] | None"]
"""Draws one random single move (oracle steps in task-file form, a label), or None when none fits."""


@dataclass
class Admission:
    """What admission decided about one candidate."""

    candidate: Candidate
    task: TaskSpec | None = None
    admitted: bool = False
    reason: str = ""
    """Why it was rejected (empty when admitted); the part before ':' is the counted reason."""
    near_misses: int = 0
    proven: bool = False
    """Whether its own demonstration proved it (False for an admitted template: no demonstration)."""
    seconds: float = 0.0
    end_screen: Image.Image | None = None
    """The screen at the end of the proving replay (for reports)."""

    @property
    def reason_kind(self) -> str:
        """Return the rejection reason without its details (for counts)."""
        return self.reason.split(":", 1)[0]


@dataclass
class AdmissionReport:
    """A batch's decisions, with rejections counted by reason."""

    decisions: list[Admission] = field(default_factory=list)

    @property
    def admitted(self) -> list[Admission]:
        """Return the admitted candidates."""
        return [d for d in self.decisions if d.admitted]

    def rejected_by_reason(self) -> dict[str, int]:
        """Return how many candidates each reason rejected."""
        return dict(Counter(d.reason_kind for d in self.decisions if not d.admitted))


def admit(
    sandbox: Sandbox,
    candidates: Sequence[Candidate],
    rng: random.Random,
    *,
    known: Iterable[str] = (),
    random_actions: int = RANDOM_ACTIONS,
    gui_near_misses: bool = True,
    settle_s: float = 0.2,
    random_move: RandomMove | None = None,
    stable_s: float = STABLE_S,
) -> AdmissionReport:
    """Decide every candidate of one walk (they share its seed state); ``known``: admitted validator keys.

    ``random_move`` draws the random single actions of the triviality test (default: a move on
    a control of the accessibility tree, as a walk would draw it; a terminal draws commands).
    ``stable_s``: how long a replay's failing outcome is given to change still (a window may
    still be opening); a demonstration whose every move waits for its effect needs less.
    """
    report = AdmissionReport()
    seen = set(known)
    pending: list[Admission] = []
    for cand in candidates:
        decision = Admission(cand)
        report.decisions.append(decision)
        if cand.rejected:
            decision.reason = f"not derivable: {cand.rejected}"
            continue
        if cand.validator_key in seen:
            decision.reason = "duplicate: the same validator as an admitted or earlier candidate"
            continue
        seen.add(cand.validator_key)
        try:
            decision.task = parse_document(cand.document)[0].instance(0)
        except (TaskSpecError, TaskError) as exc:
            decision.reason = f"invalid task file: {exc}"
            continue
        pending.append(decision)
    if not pending:
        return report
    first = pending[0].task
    assert first is not None
    try:
        start(sandbox, first)
    except (TaskError, SandboxError) as exc:
        for d in pending:
            d.reason = f"seed state failed: {exc}"
        return report
    baselines = {id(d): record_baseline(sandbox, d.task) for d in pending if d.task is not None}
    for d in pending:
        assert d.task is not None
        if validate(sandbox, d.task, trajectory=(), baseline=baselines[id(d)]).passed:
            d.reason = "passes on the start state"
    pending = [d for d in pending if not d.reason]
    if pending:
        _random_actions(sandbox, first, pending, baselines, rng, random_actions, settle_s, random_move)
    for d in [d for d in pending if not d.reason]:
        assert d.task is not None
        if d.task.oracle is None:  # a template: nothing to replay; a passing attempt proves it
            d.admitted = True
            continue
        t0 = time.monotonic()
        _prove(sandbox, d, settle_s, stable_s)
        if not d.reason and _shorten(sandbox, d, settle_s, stable_s):
            _prove(sandbox, d, settle_s, stable_s)
        if not d.reason:
            _near_misses(sandbox, d, gui_near_misses, settle_s)
        d.admitted = d.proven = not d.reason
        d.seconds += time.monotonic() - t0
    return report


def _random_actions(
    sandbox: Sandbox,
    seed_task: TaskSpec,
    pending: list[Admission],
    baselines: dict[int, Baseline],
    rng: random.Random,
    count: int,
    settle_s: float,
    random_move: RandomMove | None,
) -> None:
    """Try up to ``count`` distinct random single moves from the start state; a pass is trivial."""
    nodes = a11y_tree(sandbox) if random_move is None else ()
    tried: set[str] = set()
    moves: list[tuple[list[dict[str, Any]], str]] = []
    for _ in range(count * 4):
        if len(moves) >= count:
            break
        if random_move is not None:
            drawn = random_move(rng)
            if drawn is None:
                break
            steps, label = drawn
        else:
            steps, label, _node = choose_move(nodes, frozenset(), Novelty(), rng, _random_text)
        if label not in tried:
            tried.add(label)
            moves.append((steps, label))
    for steps, label in moves:
        alive = [d for d in pending if not d.reason]
        if not alive:
            return
        try:
            start(sandbox, seed_task)
            run = OracleRunner(sandbox, settle_s=settle_s).run(parse_steps(steps, Where("random action")))
        except (OracleFailed, TaskError, SandboxError):
            continue  # the action could not be carried out: it shows nothing about triviality
        for d in alive:
            assert d.task is not None
            if validate(sandbox, d.task, trajectory=run.moves, baseline=baselines[id(d)]).passed:
                d.reason = f"trivial: passes after one random action ({label})"


def _random_text(rng: random.Random) -> str:
    return rng.choice(["a", "1", "test", "0", "x"])


def _prove(sandbox: Sandbox, d: Admission, settle_s: float, stable_s: float) -> None:
    """Replay the demonstration from a fresh reset; it must pass, and no proper prefix may."""
    task = d.task
    assert task is not None and task.oracle is not None
    boundaries = _move_starts(d.candidate)
    runner = OracleRunner(sandbox, settle_s=settle_s)
    position = {"step": 0}
    prefix_passes: list[int] = []

    def before(step: OracleStep) -> None:
        index = position["step"]
        position["step"] += 1
        if index in boundaries[1:] and validate(sandbox, task, trajectory=runner.current.moves).passed:
            prefix_passes.append(boundaries.index(index))

    try:
        start(sandbox, task)
        run = runner.run(task.oracle, before)
    except (OracleFailed, TaskError, SandboxError) as exc:
        d.reason = f"not proven: the demonstration does not replay from a fresh start ({exc})"
        return
    verdict = _settled_verdict(sandbox, task, run.moves, stable_s)
    if not verdict.passed:
        d.reason = "not proven: the replayed demonstration fails its validator: " + "; ".join(
            r.strip() for r in verdict.reasons if r.strip().startswith("FAIL")
        )
        return
    d.end_screen = sandbox.observe().screenshot
    if prefix_passes:
        d.reason = (
            f"prefix passes: the validator passes after only {prefix_passes[0]} of {len(boundaries)} moves"
        )


def _shorten(sandbox: Sandbox, d: Admission, settle_s: float, stable_s: float) -> bool:
    """Drop the moves the outcome does not need; return whether any went.

    Single moves are tried last to first, then adjacent pairs of what is left (a menu opened and
    one of its items: neither can go alone), each from a fresh start; the last move, which made
    the change, stays. ``d`` then holds the shorter candidate and task.
    """
    moves = list(d.candidate.moves)
    composed = bool(d.candidate.provenance.get("composed"))
    for width in (1,) if composed else (1, 2):
        for i in range(len(moves) - 1 - width, -1, -1):
            if i + width > len(moves) - 1:
                continue  # an earlier removal shortened the chain under this window
            if composed and i and not all("key" in step for step in moves[i].steps):
                # A composed goal's clicks and typing all count; a leading clear or a key may not
                # (an editor whose last line already ends with a line break needs no Return).
                continue
            trial = with_chain(d.candidate, moves[:i] + moves[i + width :])
            try:
                task = parse_document(trial.document)[0].instance(0)
            except (TaskSpecError, TaskError):
                continue
            if _replay_passes(sandbox, task, settle_s, stable_s):
                moves = trial.moves
    if len(moves) == len(d.candidate.moves):
        return False
    d.candidate = with_chain(d.candidate, moves)
    d.task = parse_document(d.candidate.document)[0].instance(0)
    return True


def _replay_passes(sandbox: Sandbox, task: TaskSpec, settle_s: float, stable_s: float) -> bool:
    """Return whether ``task``'s demonstration, replayed from a fresh start, passes its validator."""
    assert task.oracle is not None
    try:
        start(sandbox, task)
        run = OracleRunner(sandbox, settle_s=settle_s).run(task.oracle)
    except (OracleFailed, TaskError, SandboxError):
        return False
    return _settled_verdict(sandbox, task, run.moves, stable_s).passed


def _settled_verdict(
    sandbox: Sandbox, task: TaskSpec, moves: Sequence[Move], stable_s: float = STABLE_S
) -> ValidatorVerdict:
    """Validate now, and again for up to ``stable_s`` while it fails.

    The walk judged each state after reading it back; a replay is judged at once, so a window
    still opening gets the time an outcome may take to stop changing.
    """
    verdict = validate(sandbox, task, trajectory=moves)
    deadline = time.monotonic() + stable_s
    while not verdict.passed and time.monotonic() < deadline:
        time.sleep(0.2)
        verdict = validate(sandbox, task, trajectory=moves)
    return verdict


def _move_starts(cand: Candidate) -> list[int]:
    """Return the index of the first oracle step of each move of the chain."""
    starts, at = [], 0
    for move in cand.moves:
        starts.append(at)
        at += len(move.steps)
    return starts


def _near_misses(sandbox: Sandbox, d: Admission, gui: bool, settle_s: float) -> None:
    assert d.task is not None
    made = generate(sandbox, d.task, settle_s=settle_s, gui=gui, per_operator=PER_OPERATOR)
    d.near_misses = len(made.generated)
    if made.error is not None:
        d.reason = f"near misses could not be made: {made.error}"
    elif made.false_passes:
        d.reason = f"a near miss passes: {made.false_passes[0].name}"
