"""Running tasks on a sandbox: set one up, solve it with its oracle, validate it, prove it.

``start`` resets the sandbox for a task (setup steps, application launch, window waits).
``run_oracle`` solves it through the GUI; ``validate`` scores the sandbox's final state.
``prove`` is the built-in suites' guarantee, run by the tests and by ``cua tasks check``:
doing nothing fails, every near miss fails, and the oracle passes.

This module touches only the sandbox it is given.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cua.tasks.errors import OracleFailed, TaskError
from cua.tasks.oracle import OracleRun, OracleRunner, OracleStep
from cua.tasks.spec import NearMiss, TaskFamily, TaskSpec, WaitWindowStep, near_miss_task
from cua.tasks.validators import ValidatorVerdict, validate_state
from sandbox.base import Observation, Sandbox
from sandbox.profile import RunCommand, WriteFile

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
    return obs


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


def validate(sandbox: Sandbox, task: TaskSpec) -> ValidatorVerdict:
    """Score the sandbox's current state against ``task``'s validator.

    Host files the validator names relatively (expected workbooks) are in the task file's folder.
    """
    base = task.source.parent if task.source is not None else None
    return validate_state(sandbox, task.validator, base)


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
        return out

    def report(self) -> str:
        """Return a readable multi-line account of the proof."""
        lines = [f"{'PROVEN' if self.ok else 'NOT PROVEN'} {self.task} ({self.seconds:.1f} s)"]
        if self.noop is not None:
            lines.append(f"  do nothing: {'fails (good)' if not self.noop.passed else 'PASSES (bad)'}")
        for name, verdict in self.near_misses.items():
            state = "fails (good)" if not verdict.passed else "PASSES (bad)"
            lines.append(f"  near miss {name}: {state}, score {verdict.score:.2f}")
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
) -> Proof:
    """Prove instance ``index`` of ``family``: nothing fails, the oracle passes, near misses fail.

    Checkpoint near misses (``before``) are validated during the oracle run itself; the others
    each reset the sandbox to the real task's setup, run the altered oracle and validate against
    the real task, so a wrong outcome is judged by the validator that must reject it.
    """
    t0 = time.monotonic()
    task = family.instance(index)
    proof = Proof(task.id)
    checkpoints = {nm.before: nm for nm in task.near_misses if nm.before is not None} if near_misses else {}

    def checkpoint(step: OracleStep) -> None:
        miss = checkpoints.get(step.id) if step.id is not None else None
        if miss is not None:
            proof.near_misses[miss.name] = validate(sandbox, task)

    try:
        start(sandbox, task)
        proof.noop = validate(sandbox, task)
        proof.oracle = run_oracle(sandbox, task, reset=False, settle_s=settle_s, before_step=checkpoint)
        proof.solved = validate(sandbox, task)
        if near_misses:
            for miss in task.near_misses:
                if miss.before is None:
                    proof.near_misses[miss.name] = _near_miss(sandbox, family, task, miss, settle_s)
    except (OracleFailed, TaskError) as exc:
        proof.error = str(exc)
    proof.seconds = time.monotonic() - t0
    return proof


def _near_miss(
    sandbox: Sandbox, family: TaskFamily, task: TaskSpec, miss: NearMiss, settle_s: float
) -> ValidatorVerdict:
    wrong = near_miss_task(family, task, miss)
    start(sandbox, task)
    try:
        run_oracle(sandbox, wrong, reset=False, settle_s=settle_s)
    except OracleFailed as exc:
        raise OracleFailed(f"near miss '{miss.name}': {exc}") from None
    return validate(sandbox, task)
