"""Running tasks on a sandbox: set one up, solve it with its oracle, validate it, prove it.

``start`` resets the sandbox for a task (setup steps, application launch, window waits) and
records the task's baseline: HOME's listing with content hashes and what the validator's checks
capture (a workbook's cells). ``run_oracle`` solves it through the GUI; ``validate`` scores the
sandbox's final state against the validator plus the side-effect guard (nothing under HOME
that the checks do not judge has changed, except the profile's volatile paths), with the
run's recorded inputs for checks of the method. ``prove`` is the built-in suites' guarantee,
run by the tests and by ``cua tasks check``: doing nothing fails, every near miss fails, the
oracle and every alternate route pass.

The baseline of the task last started on a sandbox is kept here, keyed by the sandbox object
(``baseline_of``), so that every caller of ``start`` and ``validate`` gets the guard without
carrying it; a caller may pass one explicitly. This module touches only the sandbox it is given.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cua.tasks.errors import OracleFailed, TaskError
from cua.tasks.oracle import OracleRun, OracleRunner, OracleStep
from cua.tasks.spec import NearMiss, TaskFamily, TaskSpec, WaitWindowStep, near_miss_task
from cua.tasks.validators import (
    Baseline,
    Context,
    Move,
    SideEffects,
    ValidatorVerdict,
    capture_state,
    read_home,
)
from cua.tasks.validators.home import relative
from sandbox.base import Observation, Sandbox
from sandbox.errors import ProfileError
from sandbox.profile import RunCommand, WriteFile, find_profile

WINDOW_POLL_S = 0.05


def start(
    sandbox: Sandbox,
    task: TaskSpec,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Observation:
    """Reset ``sandbox`` for ``task``: pristine HOME, setup, the application, the awaited window."""
    pre, args = task.sandbox_setup()
    obs = sandbox.reset(task.app, pre, args)
    return finish_setup(sandbox, task, obs, clock=clock, sleep=sleep)


def finish_setup(
    sandbox: Sandbox,
    task: TaskSpec,
    obs: Observation,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Observation:
    """Run ``task``'s steps after the application started (a pool already did the reset)."""
    for step in task.after_launch():
        if isinstance(step, WaitWindowStep):
            obs = _wait_window(sandbox, task, step, clock, sleep)
        elif isinstance(step, WriteFile | RunCommand):
            step.apply(sandbox, f"task {task.id}: ")
    record_baseline(sandbox, task)
    return obs


_baselines: dict[int, tuple[weakref.ref[Sandbox], Baseline]] = {}
_baselines_lock = threading.Lock()


def volatile_paths(task: TaskSpec) -> tuple[str, ...]:
    """Return the HOME patterns the task's application changes by itself (its profile's ``volatile``)."""
    try:
        return find_profile(task.app).volatile
    except ProfileError:
        return ()


def record_baseline(sandbox: Sandbox, task: TaskSpec) -> Baseline:
    """Record (and remember for ``validate``) the state ``task`` starts from on ``sandbox``."""
    home = read_home(sandbox, volatile_paths(task))
    baseline = Baseline(task.id, capture_state(sandbox, task.validator), home)
    key = id(sandbox)
    with _baselines_lock:
        _baselines[key] = (weakref.ref(sandbox, lambda _: _forget(key)), baseline)
    return baseline


def _forget(key: int) -> None:
    with _baselines_lock:
        _baselines.pop(key, None)


def baseline_of(sandbox: Sandbox, task: TaskSpec) -> Baseline | None:
    """Return the baseline recorded when ``task`` last started on ``sandbox`` (None: it did not)."""
    with _baselines_lock:
        found = _baselines.get(id(sandbox))
    if found is None or found[0]() is not sandbox or found[1].task_id != task.id:
        return None
    return found[1]


def _wait_window(
    sandbox: Sandbox,
    task: TaskSpec,
    step: WaitWindowStep,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Observation:
    deadline = clock() + step.timeout_s
    while True:
        obs = sandbox.observe()
        if re.search(step.title, obs.window_title or ""):
            return obs
        if clock() >= deadline:
            raise TaskError(
                f"task {task.id}: no window titled like {step.title!r} within {step.timeout_s:g} s "
                f"(the focused window is {obs.window_title!r})"
            )
        sleep(WINDOW_POLL_S)


def run_oracle(
    sandbox: Sandbox,
    task: TaskSpec,
    *,
    reset: bool = True,
    settle_s: float = 0.2,
    before_step: Callable[[OracleStep], None] | None = None,
) -> OracleRun:
    """Solve ``task`` through the GUI with its oracle (after ``start`` unless ``reset`` is False).

    Raises OracleFailed when a step cannot be carried out, TaskError when there is no oracle.
    """
    if task.oracle is None:
        raise TaskError(f"task {task.id} has no oracle")
    if reset:
        start(sandbox, task)
    return OracleRunner(sandbox, settle_s=settle_s).run(task.oracle, before_step)


def judged_paths(task: TaskSpec) -> tuple[str, ...]:
    """Return the HOME-relative paths ``task``'s checks judge (their changes are not side effects)."""
    found = (relative(p) for check in task.validator.walk() for p in check.paths())
    return tuple(sorted({p for p in found if p is not None}))


def validate(
    sandbox: Sandbox,
    task: TaskSpec,
    *,
    trajectory: Sequence[Move] | None = None,
    baseline: Baseline | None = None,
) -> ValidatorVerdict:
    """Score the sandbox's current state against ``task``'s validator and the side-effect guard.

    ``trajectory``: the run's recorded inputs (checks of the method fail without them).
    ``baseline``: the state the task started from; by default the one recorded when ``task``
    last started on ``sandbox`` (checks of change, and the guard, fail without one). Host files
    the validator names relatively (expected workbooks) are in the task file's folder.
    """
    base = task.source.parent if task.source is not None else None
    if baseline is None:
        baseline = baseline_of(sandbox, task)
    ctx = Context(sandbox, base, baseline, None if trajectory is None else tuple(trajectory))
    verdict = task.validator.run(ctx)
    if task.side_effects.off:
        return verdict
    guard = SideEffects(judged_paths(task), task.side_effects.allow).run(ctx)
    if guard.passed:
        return ValidatorVerdict(verdict.score, (*verdict.reasons, *guard.reasons))
    # A side effect fails the task; the checks' partial credit is kept, capped below a pass.
    return ValidatorVerdict(min(verdict.score, 0.5), (*verdict.reasons, *guard.reasons))


@dataclass
class Proof:
    """The evidence that a task is solvable and checkable, one verdict per run."""

    task: str
    noop: ValidatorVerdict | None = None
    """The validator right after setup: must fail."""
    solved: ValidatorVerdict | None = None
    """The validator after the oracle: must pass."""
    near_misses: dict[str, ValidatorVerdict] = field(default_factory=dict)
    """The validator after each near miss: each must fail."""
    alternates: dict[str, ValidatorVerdict] = field(default_factory=dict)
    """The validator after each alternate route: each must pass."""
    oracle: OracleRun | None = None
    error: str | None = None
    """Why the proof could not be completed (an oracle step failed, a setup failed)."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Return whether every part of the proof holds."""
        return (
            self.error is None
            and self.noop is not None
            and not self.noop.passed
            and self.solved is not None
            and self.solved.passed
            and all(not v.passed for v in self.near_misses.values())
            and all(v.passed for v in self.alternates.values())
        )

    def problems(self) -> list[str]:
        """Return what is wrong, one line each (empty when ``ok``)."""
        out = []
        if self.error:
            out.append(f"error: {self.error}")
        if self.noop is not None and self.noop.passed:
            out.append("doing nothing passes the validator")
        if self.solved is not None and not self.solved.passed:
            out.append(f"the oracle's result fails the validator:\n{self.solved.explain()}")
        for name, verdict in self.near_misses.items():
            if verdict.passed:
                out.append(f"near miss '{name}' passes the validator:\n{verdict.explain()}")
        for name, verdict in self.alternates.items():
            if not verdict.passed:
                out.append(f"alternate route '{name}' fails the validator:\n{verdict.explain()}")
        return out

    def report(self) -> str:
        """Return a readable multi-line account of the proof."""
        lines = [f"{'PROVEN' if self.ok else 'NOT PROVEN'} {self.task} ({self.seconds:.1f} s)"]
        if self.noop is not None:
            lines.append(f"  do nothing: {'fails (good)' if not self.noop.passed else 'PASSES (bad)'}")
        for name, verdict in self.near_misses.items():
            state = "fails (good)" if not verdict.passed else "PASSES (bad)"
            lines.append(f"  near miss {name}: {state}, score {verdict.score:.2f}")
        for name, verdict in self.alternates.items():
            state = "passes (good)" if verdict.passed else "FAILS (bad)"
            lines.append(f"  alternate {name}: {state}, score {verdict.score:.2f}")
        if self.oracle is not None:
            lines.append(f"  oracle: {self.oracle.actions} actions in {self.oracle.seconds:.1f} s")
            lines += [f"    {line}" for line in self.oracle.log]
        if self.solved is not None:
            lines.append(f"  after the oracle: score {self.solved.score:.2f}")
            lines += [f"    {line}" for line in self.solved.reasons]
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


def prove(
    sandbox: Sandbox,
    family: TaskFamily,
    index: int = 0,
    *,
    settle_s: float = 0.2,
    near_misses: bool = True,
    alternates: bool = True,
) -> Proof:
    """Prove instance ``index`` of ``family``: nothing fails, the oracle passes, near misses fail.

    Checkpoint near misses (``before``) are validated during the oracle run itself; the others
    each reset the sandbox to the real task's setup, run the altered oracle and validate against
    the real task, so a wrong outcome is judged by the validator that must reject it. Each
    alternate route runs from a fresh start and must pass. Every validation gets the inputs
    its run sent, as an agent's run would.
    """
    t0 = time.monotonic()
    task = family.instance(index)
    proof = Proof(task.id)
    checkpoints = {nm.before: nm for nm in task.near_misses if nm.before is not None} if near_misses else {}
    runner = OracleRunner(sandbox, settle_s=settle_s)

    def checkpoint(step: OracleStep) -> None:
        miss = checkpoints.get(step.id) if step.id is not None else None
        if miss is not None:
            proof.near_misses[miss.name] = validate(sandbox, task, trajectory=runner.current.moves)

    try:
        start(sandbox, task)
        proof.noop = validate(sandbox, task, trajectory=())
        if task.oracle is None:
            raise TaskError(f"task {task.id} has no oracle")
        proof.oracle = runner.run(task.oracle, checkpoint)
        proof.solved = validate(sandbox, task, trajectory=proof.oracle.moves)
        if near_misses:
            for miss in task.near_misses:
                if miss.before is None:
                    proof.near_misses[miss.name] = _near_miss(sandbox, family, task, miss, settle_s)
        if alternates:
            for alt in task.alternates:
                proof.alternates[alt.name] = _route(sandbox, task, alt.name, alt.oracle, settle_s)
    except (OracleFailed, TaskError) as exc:
        proof.error = str(exc)
    proof.seconds = time.monotonic() - t0
    return proof


def _near_miss(
    sandbox: Sandbox, family: TaskFamily, task: TaskSpec, miss: NearMiss, settle_s: float
) -> ValidatorVerdict:
    wrong = near_miss_task(family, task, miss)
    assert wrong.oracle is not None
    return _route(sandbox, task, f"near miss '{miss.name}'", wrong.oracle, settle_s)


def _route(
    sandbox: Sandbox, task: TaskSpec, name: str, steps: Sequence[OracleStep], settle_s: float
) -> ValidatorVerdict:
    """Start ``task`` afresh, run ``steps`` through the GUI, and validate against ``task``."""
    start(sandbox, task)
    try:
        run = OracleRunner(sandbox, settle_s=settle_s).run(steps)
    except OracleFailed as exc:
        raise OracleFailed(f"{name}: {exc}") from None
    return validate(sandbox, task, trajectory=run.moves)
