"""THE task episode: setup, the agent, the validator, the critic, memory settle; always ended.

Every caller runs episodes through here: ``cua run`` (a task or a free instruction, through
``cua.service``), ``cua eval`` (``cua.eval.suite``, in a pool) and, once the layers allow it,
``cua replay``. One episode:

1. **Setup**: the task's ``start`` (reset, setup, the awaited window), or only its after-launch
   steps when a pool already reset the sandbox and hands over ``first``; a free instruction
   resets to the application (or starts from ``first``). ``prepare`` may change the screen
   before the agent looks (the replay benchmark moves the window).
2. **Agent**: ``Agent.steps()``, recorded with the run's ``source`` and the task's ``task_hash``.
3. **Validator** (a task only): the task's executable check on the final state.
4. **Critic**: one verdict stored with the run: the validator's, with the heuristics as
   evidence; for a free run the critic's judge (if any) or heuristics.
5. **Memory settle**: a hook with ``outcome``/``settle`` (``cua.memory.ExperienceMemory``) credits
   or blames what it showed: with the validator's verdict, else with the run's stored verdict.

The ``finally`` guarantees an end: should the store still show the run ``running`` after
anything raised, it is finished as ``error`` with the exception in its summary (its completed
steps stay). An exception raised by the validator is also stored as an unknown verdict, then
raised (a pool retries the episode on a fresh sandbox).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cua.agent import Agent, EpisodeResult, StepEvent, drive
from cua.critic import Critic, CriticVerdict
from cua.errors import UsageError
from cua.store import RunSource, RunStatus, StoreError, TrajectoryStore, VerdictSource
from cua.tasks import TaskSpec, start, task_hash, validate
from cua.tasks.runner import finish_setup
from cua.tasks.validators import Move, ValidatorVerdict
from sandbox.base import Observation, Sandbox
from sandbox.profile import AppProfile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase:
    """Progress of an episode between steps: ``setup``, ``agent``, ``validate``, ``critic``, ``memory``."""

    name: str
    detail: str = ""


EpisodeEvent = StepEvent | Phase
"""What an episode reports while it runs: each recorded step, and the phases around them."""


@dataclass(frozen=True)
class EpisodeOutcome:
    """How one episode ended, and what judged it."""

    run_id: str | None
    status: RunStatus
    """How the agent's run ended (success means the agent said done)."""
    summary: str
    steps: int
    answer: str | None = None
    verdict: ValidatorVerdict | None = None
    """The task validator's verdict (None for a free run): the episode's real outcome."""
    critic: CriticVerdict | None = None
    """The verdict stored with the run (None without a store)."""
    memory_shown: tuple[int, ...] = ()
    """Memory items the run was shown."""
    memory_settled: bool | None = None
    """The outcome their utility was updated with; None when nothing was settled (yet)."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds by phase: setup, agent, validate, critic, memory, total."""
    person_steps: int = 0
    final: Observation | None = None

    @property
    def passed(self) -> bool | None:
        """Return the validator's pass/fail, else the critic's success, else None."""
        if self.verdict is not None:
            return self.verdict.passed
        return self.critic.success if self.critic is not None else None


Prepare = Callable[[Sandbox, Observation], Observation]
"""Changes the sandbox after setup, before the agent's first look; returns the new observation."""


def episode_steps(
    agent: Agent,
    *,
    task: TaskSpec | None = None,
    instruction: str | None = None,
    app: str | AppProfile | None = None,
    first: Observation | None = None,
    source: RunSource = RunSource.RUN,
    critic: Critic | None = None,
    prepare: Prepare | None = None,
    secrets: Mapping[str, str] | None = None,
    seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Generator[EpisodeEvent, None, EpisodeOutcome]:
    """Run one episode of ``agent`` (see the module docstring), yielding its events; return the outcome.

    ``task`` gives the instruction, application, setup and validator; without it give
    ``instruction`` and ``app``. ``first`` is the observation of a sandbox already reset for the
    application (a pool's). ``critic`` defaults to a critic without a model.
    """
    if task is not None:
        instruction = instruction or task.instruction
        app = app or task.app
    if instruction is None or app is None:
        raise UsageError("an episode needs a task, or an instruction and an application")
    app_name = app.name if isinstance(app, AppProfile) else app
    sandbox, store = agent.sandbox, agent.store
    agent.run_id = None  # set by the agent once it records this episode's run
    timings: dict[str, float] = {}
    t_start = clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[name] = round(now - clock, 3)
        clock = now

    yield Phase("setup", task.id if task is not None else app_name)
    if task is not None:
        obs = finish_setup(sandbox, task, first) if first is not None else start(sandbox, task)
    else:
        obs = first if first is not None else sandbox.reset(app)
    if prepare is not None:
        obs = prepare(sandbox, obs)
    lap("setup")
    failure: BaseException | None = None
    try:
        yield Phase("agent", instruction)
        steps = agent.steps(
            instruction, obs, app=app_name, task_id=task.id if task else None,
            task_hash=task_hash(task) if task else None, secrets=secrets, seed=seed, extra=extra,
            source=source,
        )  # fmt: skip
        result: EpisodeResult = yield from steps  # a thrown exception goes on into the agent's loop
        lap("agent")
        verdict = None
        if task is not None:
            yield Phase("validate", task.id)
            verdict = _validate(sandbox, task, store, result.run_id, result.moves)
            lap("validate")
        judged = None
        if store is not None and result.run_id is not None:
            yield Phase("critic")
            judged = (critic or Critic()).judge_stored(
                store, result.run_id, task=task, validator_verdict=verdict
            )
            lap("critic")
        shown, settled = _settle(agent.memory, store, result.run_id, verdict)
        if shown:
            yield Phase("memory", f"showed {len(shown)} items; settled: {settled}")
        lap("memory")
        timings["total"] = round(time.monotonic() - t_start, 3)
        return EpisodeOutcome(
            result.run_id, result.status, result.summary, result.steps, result.answer, verdict, judged,
            shown, settled, timings, result.person_steps, result.final,
        )  # fmt: skip
    except BaseException as exc:
        failure = exc
        raise
    finally:
        _ensure_ended(store, agent.run_id, failure)


def run_episode(
    agent: Agent,
    *,
    on_event: Callable[[EpisodeEvent], None] | None = None,
    **kwargs: Any,
) -> EpisodeOutcome:
    """Run :func:`episode_steps` to its end, calling ``on_event`` with each event; return the outcome."""
    return drive(episode_steps(agent, **kwargs), on_event)


def _validate(
    sandbox: Sandbox,
    task: TaskSpec,
    store: TrajectoryStore | None,
    run_id: str | None,
    moves: Sequence[Move],
) -> ValidatorVerdict:
    """Score the final state (with the run's inputs); a validator that raises leaves an unknown verdict."""
    try:
        return validate(sandbox, task, trajectory=moves)
    except Exception as exc:
        if store is not None and run_id is not None:
            reason = f"the validator could not run: {type(exc).__name__}: {exc}"
            try:
                store.add_verdict(
                    run_id, VerdictSource.VALIDATOR, None, reasons=[reason], evidence={"task": task.id}
                )
            except StoreError:
                log.exception("run %s: storing the validator's failure failed", run_id)
        raise


def _settle(
    hook: Any, store: TrajectoryStore | None, run_id: str | None, verdict: ValidatorVerdict | None
) -> tuple[tuple[int, ...], bool | None]:
    """Credit or blame what the memory showed; return (items shown, outcome settled or None)."""
    shown = tuple(sorted(getattr(hook, "shown_ever", ()) or ()))
    if verdict is not None and hasattr(hook, "outcome"):
        hook.outcome(verdict.passed)
        return shown, verdict.passed
    if store is not None and run_id is not None and hasattr(hook, "settle"):
        settled: bool | None = hook.settle(store, run_id)
        return shown, settled
    return shown, None


def _ensure_ended(store: TrajectoryStore | None, run_id: str | None, failure: BaseException | None) -> None:
    """Finish a run the store still shows as running (something raised past the agent's own end)."""
    if store is None or run_id is None:
        return
    why = "the episode ended without finishing its run"
    if failure is not None:
        why = f"the episode failed: {type(failure).__name__}: {failure}"
    try:
        if store.get_run(run_id).status is RunStatus.RUNNING:
            store.finish_run(run_id, RunStatus.ERROR, why)
    except StoreError:
        log.exception("run %s: could not make sure it ended", run_id)
