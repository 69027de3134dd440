"""The step loop: observe → memory → policy → parse → safety → act → record, until an end.

One episode runs one instruction on one sandbox that has already been reset. ``Agent.steps()``
is the loop as a generator: it yields each step's ``StepEvent`` once the step is recorded, and
returns the ``EpisodeResult``; ``Agent.run()`` drives it and calls ``on_step``. Every step is
recorded durably before the next action; the run ends as ``success`` (the agent said done; a
verdict later says whether it really is), ``failure`` (it gave up, ran out of steps, looped or
kept writing unparsable output), ``needs_user``, ``cancelled`` or ``error`` (the sandbox, the
model, the disk, a memory hook or an event callback failed), and the run summary says which and
why. Whatever is raised inside, the run is finished with a status (a ``finally``), and its
completed steps stay. Pause, resume, cancel, take-over and questions go through the
``AgentControl`` (``cua.agent.control``) from any thread.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from PIL import Image

from cua import actions as act
from cua.agent.control import AgentControl, QuestionKind
from cua.agent.safety import GuardVerdict, SafetyGuard
from cua.errors import CuaError, PolicyError, SandboxCrashed, SandboxError, UsageError
from cua.formats import OutputFormat, ParseError, get_format
from cua.locators import locate_on, read_screen
from cua.policy import (
    HistoryItem,
    Policy,
    PolicyInput,
    PolicyOutput,
    ReadsScreen,
    Recall,
    SettlingPolicy,
    UsesMemoryHook,
    instruction_problem,
)
from cua.store import (
    Actor,
    Provenance,
    RunInfo,
    RunSource,
    RunStatus,
    StepRecord,
    StoreError,
    TrajectoryStore,
)
from cua.tasks.validators.base import Move
from sandbox.actions import TypeText as _SandboxTypeText
from sandbox.base import A11yNode, Observation, Sandbox, TextBox

log = logging.getLogger(__name__)

SECRET = re.compile(r"\{\{secret:([A-Za-z_][A-Za-z0-9_]*)\}\}")


@dataclass(frozen=True)
class AgentConfig:
    """How one episode runs."""

    max_steps: int = 15
    """Step budget; the episode ends as a failure when it is spent."""
    history_screenshots: int = 2
    """How many recent screenshots the policy sees again (earlier steps come as text only)."""
    settle_s: float = 1.0
    """Longest wait for the screen to settle after an action."""
    loop_limit: int = 3
    """The same action this many times without a screen change: feedback; twice as many: stop."""
    max_parse_errors: int = 3
    """Consecutive unparsable outputs before the episode stops."""
    record_hits: bool = True
    """Read the accessibility tree before pointer actions to record what they hit (a locator)."""
    call_user_timeout_s: float = 300.0
    """How long an interactive run waits for the person's answer to call_user."""


class MemoryHook(Protocol):
    """Retrieves experience for the prompt (``cua.memory.ExperienceMemory`` is the real one)."""

    def retrieve(
        self, instruction: str, observation: Observation, history: Sequence[HistoryItem]
    ) -> str | Recall | None:
        """Return experience as prompt text (with key screens in a ``Recall``), or None."""
        ...


@runtime_checkable
class EpisodicMemory(Protocol):
    """A memory hook that wants to know which recorded run an episode is (to settle it later)."""

    def begin_episode(self, run_id: str | None) -> None:
        """Note the run id of the episode about to start (None: not recorded); before any retrieval."""
        ...


class NoMemory:
    """The empty memory hook: the agent starts every episode without experience."""

    def retrieve(
        self, instruction: str, observation: Observation, history: Sequence[HistoryItem]
    ) -> str | Recall | None:
        """Return nothing."""
        return None


AskUser = Callable[[str, float], str | None]
"""Asks the person a question, waits at most the given seconds, returns the answer or None."""


@dataclass(frozen=True)
class StepEvent:
    """One finished step, as shown live (terminal, UI)."""

    index: int
    thought: str
    actions: tuple[act.Action, ...]
    raw: str
    parse_error: str | None
    feedback: str | None
    observation: Observation
    timings: Mapping[str, float]
    actor: Actor = Actor.AGENT
    """Who took the step: the agent, or a person during a take-over (``index`` counts agent steps)."""


@dataclass
class EpisodeResult:
    """How an episode ended."""

    run_id: str | None
    status: RunStatus
    summary: str
    steps: int
    answer: str | None = None
    final: Observation | None = None
    step_timings: list[dict[str, float]] = field(default_factory=list)
    person_steps: int = 0
    """Steps a person took during take-overs (not counted in ``steps``)."""
    moves: list[Move] = field(default_factory=list)
    """Every input sent to the sandbox, the agent's and a person's, with what a click hit: the
    trajectory a task validator's checks of the method read."""


def policy_input(
    instruction: str,
    obs: Observation,
    history: Sequence[HistoryItem],
    history_screenshots: int,
    feedback: str | None = None,
    memory: str | Recall | None = None,
    step: int = 0,
    screen: tuple[Sequence[A11yNode], Sequence[TextBox]] | None = None,
) -> PolicyInput:
    """Build what the policy sees: earlier screenshots beyond the window are dropped (text stays).

    Training data for a policy must be built with this same function, so that a model sees
    at run time exactly the kind of input it learned from.
    """
    keep = history_screenshots - 1
    window = tuple(
        item if i >= len(history) - keep else replace(item, screenshot=None) for i, item in enumerate(history)
    )
    text, images = (memory.text, memory.images) if isinstance(memory, Recall) else (memory, ())
    a11y, ocr = screen if screen is not None else (None, ())
    return PolicyInput(
        instruction, obs.screenshot, obs.size, window, feedback, text, step, memory_images=images,
        a11y=a11y, ocr=tuple(ocr),
    )  # fmt: skip


def resolve_secrets(text: str, secrets: Mapping[str, str]) -> str:
    """Replace ``{{secret:NAME}}`` placeholders with their values; CuaError for an unknown name."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in secrets:
            raise CuaError(
                f"unknown secret {name!r}: give it to the run (known: {sorted(secrets) or 'none'})"
            )
        return secrets[name]

    return SECRET.sub(value, text)


E = TypeVar("E")
R = TypeVar("R")


def drive(steps: Generator[E, None, R], on_event: Callable[[E], None] | None = None) -> R:
    """Run a step generator to its end, calling ``on_event`` with each event; return its result.

    An exception from ``on_event`` is thrown into the generator at the step it came from, so the
    episode ends (as ``error``, or ``cancelled`` for Ctrl-C) with its record finished.
    """
    try:
        event = next(steps)
        while True:
            try:
                if on_event is not None:
                    on_event(event)
            except BaseException as exc:  # handed to the generator, which ends the run
                event = steps.throw(exc)
            else:
                event = next(steps)
    except StopIteration as stop:
        result: R = stop.value
        return result


class _Stop(Exception):
    """Ends the episode with a status (raised inside a step, caught by the loop)."""

    def __init__(self, status: RunStatus, summary: str) -> None:
        super().__init__(summary)
        self.status, self.summary = status, summary


@dataclass
class _State:
    """What the loop carries from one step to the next."""

    obs: Observation
    history: list[HistoryItem] = field(default_factory=list)
    feedback: str | None = None
    parse_errors: int = 0
    repeats: int = 0
    last_actions: tuple[act.Action, ...] | None = None
    answer: str | None = None
    phase: str = "start"
    """What the loop is doing (names the culprit when something unexpected is raised)."""
    moves: list[Move] = field(default_factory=list)


class Agent:
    """Runs episodes of one policy on one sandbox, recording them in a store."""

    def __init__(
        self,
        policy: Policy,
        sandbox: Sandbox,
        *,
        store: TrajectoryStore | None = None,
        config: AgentConfig | None = None,
        guard: SafetyGuard | None = None,
        memory: MemoryHook | None = None,
        ask_user: AskUser | None = None,
        on_step: Callable[[StepEvent], None] | None = None,
        output_format: OutputFormat | None = None,
        control: AgentControl | None = None,
    ) -> None:
        """Wire a policy to a sandbox.

        Questions go to ``ask_user`` when given (the terminal), else to ``control`` (an interactive
        control waits for ``answer()`` from another thread); with neither the run is batch.
        """
        self.policy = policy
        self.sandbox = sandbox
        self.store = store
        self.config = config or AgentConfig()
        self.guard = guard or SafetyGuard()
        self.memory = memory or NoMemory()
        self.ask_user = ask_user
        self.on_step = on_step
        # A model backend binds its format to the resize settings of its checkpoint; parse with that.
        bound = getattr(policy, "output_format", None)
        self.format = output_format or (bound if bound is not None else get_format(policy.format_name))
        self.control = control or AgentControl()
        if ask_user is not None:
            self.control.answerer = ask_user
        self.run_id: str | None = None
        """The recorded run of the current (or last) episode."""

    def provenance(self, seed: int | None = None) -> Provenance:
        """Describe the policy for the run record (never an API key)."""
        info = self.policy.provenance()
        model = info.get("model") or (
            Path(info["model_dir"]).name if info.get("model_dir") else self.policy.name
        )
        generation = dict(info.get("generation") or {})
        for key in (
            "min_pixels",
            "max_pixels",
            "factor",
            "history_screenshots",
            "backend",
            "dtype",
            "device",
        ):
            if info.get(key) is not None:
                generation[key] = info[key]
        generation["max_steps"] = self.config.max_steps
        return Provenance(
            model=str(model),
            checkpoint=info.get("checkpoint_sha256") or info.get("checkpoint") or info.get("script_sha256"),
            endpoint=info.get("endpoint"),
            prompt_format=self.format.name,
            prompt_format_version=self.format.version,
            generation=generation,
            seed=seed if seed is not None else generation.get("seed"),
        )

    def run(
        self,
        instruction: str,
        first: Observation,
        *,
        app: str,
        task_id: str | None = None,
        task_hash: str | None = None,
        secrets: Mapping[str, str] | None = None,
        seed: int | None = None,
        extra: Mapping[str, Any] | None = None,
        source: RunSource = RunSource.RUN,
    ) -> EpisodeResult:
        """Run one episode from ``first`` (the observation after reset) until it ends."""
        steps = self.steps(
            instruction, first, app=app, task_id=task_id, task_hash=task_hash, secrets=secrets, seed=seed,
            extra=extra, source=source,
        )  # fmt: skip
        return drive(steps, self.on_step)

    def steps(
        self,
        instruction: str,
        first: Observation,
        *,
        app: str,
        task_id: str | None = None,
        task_hash: str | None = None,
        secrets: Mapping[str, str] | None = None,
        seed: int | None = None,
        extra: Mapping[str, Any] | None = None,
        source: RunSource = RunSource.RUN,
    ) -> Generator[StepEvent, None, EpisodeResult]:
        """Run one episode, yielding each step's event once it is recorded; return the result.

        UsageError for an instruction that cannot be one (nothing is recorded then). Closing the
        generator early ends the run as ``cancelled``; an exception thrown into it (``drive`` throws
        the event callback's) or raised by any part of a step ends it as ``error``.
        """
        problem = instruction_problem(instruction)
        if problem is not None:
            raise UsageError(problem)
        secrets = dict(secrets or {})
        run_id = None
        if self.store is not None:
            info = RunInfo(
                instruction, app, self.provenance(seed), task_id, task_hash, dict(extra or {}), source=source
            )
            run_id = self.store.start_run(info, secrets=secrets)
        self.run_id = run_id
        state = _State(first)
        result = EpisodeResult(run_id, RunStatus.FAILURE, "", 0, final=first)
        try:
            self.guard.reset()
            if isinstance(self.memory, EpisodicMemory):
                state.phase = "memory hook"
                self.memory.begin_episode(run_id)
            if isinstance(self.policy, UsesMemoryHook):
                self.policy.bind_memory(self.memory)
            yield from self._loop(instruction, state, result, secrets)
        except GeneratorExit:
            self._end(result, RunStatus.CANCELLED, "stopped: the caller closed the episode")
            raise
        except KeyboardInterrupt:
            self._end(result, RunStatus.CANCELLED, "interrupted (Ctrl-C)")
            raise
        except Exception as exc:
            log.exception("episode %s: the %s failed", run_id, state.phase)
            self._end(result, RunStatus.ERROR, f"the {state.phase} failed: {type(exc).__name__}: {exc}")
        finally:
            result.final = state.obs
            self._finish(result)
        return result

    # -- the loop -------------------------------------------------------------------------------
    def _loop(
        self, instruction: str, st: _State, result: EpisodeResult, secrets: Mapping[str, str]
    ) -> Generator[StepEvent, None, None]:
        for index in range(self.config.max_steps):
            yield from self._person_turns(st, result, secrets)
            if self.control.cancelled:
                self._end(result, RunStatus.CANCELLED, "cancelled by the user")
                return
            try:
                event, end = self._agent_step(instruction, st, index, result.run_id, secrets)
            except _Stop as stop:
                self._end(result, stop.status, stop.summary)
                return
            result.steps = index + 1
            result.moves = st.moves
            result.step_timings.append(event.timings)  # type: ignore[arg-type]
            result.final = st.obs
            result.answer = st.answer
            st.phase = "step callback"
            yield event
            if end is not None:
                self._end(result, *end)
                return
        self._end(result, RunStatus.FAILURE, f"step budget of {self.config.max_steps} spent")

    def _agent_step(
        self, instruction: str, st: _State, index: int, run_id: str | None, secrets: Mapping[str, str]
    ) -> tuple[StepEvent, tuple[RunStatus, str] | None]:
        """One step of the agent: policy, parse, act, loop detection, record."""
        t_step = time.monotonic()
        timings: dict[str, float] = {}
        seen = st.obs
        out = self._decide(instruction, st, index, timings)
        thought, parsed, parse_error = self._parse(out.text, out.actions, seen, timings)
        feedback: str | None = None
        hit: dict[str, Any] | None = None
        end: tuple[RunStatus, str] | None = None
        if parse_error is not None:
            st.parse_errors += 1
            feedback = f"Your last output could not be parsed: {parse_error}"
            if st.parse_errors >= self.config.max_parse_errors:
                end = (
                    RunStatus.FAILURE,
                    f"{st.parse_errors} unparsable outputs in a row; last: {parse_error}",
                )
        else:
            st.parse_errors = 0
            hit, end, feedback = self._act_step(parsed, st, secrets, timings)
            if feedback is None or not feedback.startswith("That action was refused"):
                st.moves += [Move(act.to_json(a), hit if i == 0 else None) for i, a in enumerate(parsed)]
            if end is None:
                end, feedback = self._detect_loop(parsed, st, feedback)
        timings["step"] = (time.monotonic() - t_step) * 1000
        st.phase = "store"
        try:
            self._record(run_id, seen, thought, out.text, parsed, parse_error, hit, timings)
        except StoreError as exc:
            raise _Stop(RunStatus.ERROR, f"recording the step failed: {exc}") from exc
        st.history.append(HistoryItem(out.text, seen.screenshot, feedback))
        st.feedback = feedback
        event = StepEvent(index, thought, tuple(parsed), out.text, parse_error, feedback, st.obs, timings)
        return event, end

    def _decide(self, instruction: str, st: _State, index: int, timings: dict[str, float]) -> PolicyOutput:
        """Retrieve experience and ask the policy; _Stop when the model fails."""
        st.phase = "memory hook"
        memory = self.memory.retrieve(instruction, st.obs, st.history)
        st.phase = "policy"
        cfg = self.config
        t0 = time.monotonic()
        screen = None
        if isinstance(self.policy, ReadsScreen) and self.policy.reads_screen:
            screen = read_screen(self.sandbox)
            timings["read_screen"] = (time.monotonic() - t0) * 1000
        inp = policy_input(
            instruction, st.obs, st.history, cfg.history_screenshots, st.feedback, memory, index, screen
        )
        try:
            out = self.policy.act(inp)
        except PolicyError as exc:
            raise _Stop(RunStatus.ERROR, f"the model failed: {exc}") from exc
        timings["policy"] = (time.monotonic() - t0) * 1000
        return out

    def _parse(
        self,
        text: str,
        typed: Sequence[act.Action] | None,
        obs: Observation,
        timings: dict[str, float],
    ) -> tuple[str, list[act.Action], str | None]:
        """Return (thought, actions, parse error): typed actions pass, text goes through the format."""
        t0 = time.monotonic()
        thought, parsed, parse_error = text, list(typed or []), None
        if typed is None:
            try:
                p = self.format.parse(text, obs.size, obs.size, pointer=obs.cursor)
                thought, parsed = p.thought, list(p.actions)
            except ParseError as exc:
                parse_error = exc.feedback
        timings["parse"] = (time.monotonic() - t0) * 1000
        return thought, parsed, parse_error

    def _act_step(
        self, parsed: Sequence[act.Action], st: _State, secrets: Mapping[str, str], timings: dict[str, float]
    ) -> tuple[dict[str, Any] | None, tuple[RunStatus, str] | None, str | None]:
        """Act, and let a settling policy wait; return (hit, end, feedback)."""
        st.phase = "sandbox"
        hit: dict[str, Any] | None = None
        try:
            st.obs, hit, answer, end, feedback = self._act(parsed, st.obs, secrets, timings)
            if answer is not None:
                st.answer = answer
            if end is None and isinstance(self.policy, SettlingPolicy):
                t0 = time.monotonic()
                if self.policy.settle():  # the policy waited: look again
                    st.obs = replace(self.sandbox.observe(), changed=st.obs.changed)
                timings["policy_settle"] = (time.monotonic() - t0) * 1000
        except PolicyError as exc:
            return hit, (RunStatus.ERROR, f"the model failed: {exc}"), None
        except SandboxCrashed as exc:
            return hit, (RunStatus.ERROR, f"the sandbox failed: {exc}"), None
        except (SandboxError, CuaError) as exc:
            return hit, None, f"That action was refused: {exc}"
        return hit, end, feedback

    def _detect_loop(
        self, parsed: Sequence[act.Action], st: _State, feedback: str | None
    ) -> tuple[tuple[RunStatus, str] | None, str | None]:
        """Count repeats of the same actions without a screen change: feedback, then the end."""
        key = tuple(parsed)
        st.repeats = st.repeats + 1 if key == st.last_actions and not st.obs.changed else 0
        st.last_actions = key
        limit = self.config.loop_limit
        if st.repeats + 1 >= 2 * limit:
            return (RunStatus.FAILURE, f"stopped after repeating {_short(parsed)} without effect"), feedback
        if st.repeats + 1 >= limit:
            return None, (
                f"You repeated {_short(parsed)} {st.repeats + 1} times and the screen did not change. "
                "Try something different."
            )
        return None, feedback

    # -- take-over ------------------------------------------------------------------------------
    def _person_turns(
        self, st: _State, result: EpisodeResult, secrets: Mapping[str, str]
    ) -> Generator[StepEvent, None, None]:
        """Wait while paused; while a person has taken over, run and record their actions."""
        st.phase = "control"
        done: list[act.Action] = []
        while True:
            self.control.wait_while_paused()
            if self.control.cancelled or not self.control.taken_over:
                break
            while (action := self.control.next_person_step()) is not None:
                event = self._person_step(action, st, result, secrets)
                done.append(action)
                st.phase = "step callback"
                yield event
                st.phase = "control"
        if done:
            st.feedback = (
                f"A person took over and did {len(done)} action(s): {_short(done)}. "
                "Continue the task from the current screen."
            )
            st.last_actions, st.repeats = None, 0

    def _person_step(
        self, action: act.Action, st: _State, result: EpisodeResult, secrets: Mapping[str, str]
    ) -> StepEvent:
        """Run one action of a person on the sandbox and record it (``actor=person``)."""
        st.phase = "person step"
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        seen = st.obs
        hit: dict[str, Any] | None = None
        feedback = None
        try:
            hit = self._locate(action, timings)
            st.obs = self._send(action, st.obs, secrets, timings)
        except SandboxCrashed:
            raise
        except (SandboxError, CuaError) as exc:
            feedback = f"That action was refused: {exc}"
        timings["step"] = (time.monotonic() - t0) * 1000
        st.phase = "store"
        if self.store is not None and result.run_id is not None:
            record = StepRecord(
                None, None, act.to_json(action), feedback, hit, dict(timings), seen.window_title,
                actor=Actor.PERSON,
            )  # fmt: skip
            self.store.add_step(result.run_id, record, seen.screenshot)
        result.person_steps += 1
        result.moves = st.moves
        if feedback is None:
            st.moves.append(Move(act.to_json(action), hit))
        result.final = st.obs
        return StepEvent(result.steps, "", (action,), "", None, feedback, st.obs, timings, actor=Actor.PERSON)

    # -- acting ---------------------------------------------------------------------------------
    def _act(
        self,
        parsed: Sequence[act.Action],
        obs: Observation,
        secrets: Mapping[str, str],
        timings: dict[str, float],
    ) -> tuple[Observation, dict[str, Any] | None, str | None, tuple[RunStatus, str] | None, str | None]:
        """Execute the parsed actions; return (observation, hit, answer, end, feedback)."""
        hit: dict[str, Any] | None = None
        feedback: str | None = None
        for action in parsed:
            if isinstance(action, act.Done):
                return (
                    obs,
                    hit,
                    action.answer,
                    (RunStatus.SUCCESS, action.answer or "the agent said done"),
                    None,
                )
            if isinstance(action, act.Fail):
                return obs, hit, None, (RunStatus.FAILURE, f"the agent gave up: {action.reason}"), None
            if isinstance(action, act.CallUser):
                answer = self._ask(action.question or "The agent needs help.", "call_user")
                if answer is None:
                    return obs, hit, None, (RunStatus.NEEDS_USER, f"asked the user: {action.question}"), None
                return obs, hit, None, None, f"The user answered: {answer}"
            verdict = self._guard(action, obs)
            if verdict is not None:
                answer = self._ask(verdict.question(), "safety")
                if answer is None or answer.strip().lower() not in ("y", "yes", "allow", "ok"):
                    end = (RunStatus.NEEDS_USER, f"stopped by the safety guard: {verdict.reason}")
                    if answer is None:
                        return obs, hit, None, end, None
                    return obs, hit, None, None, "The user did not allow that command; do something else."
                self.guard.allowed(verdict)
            if hit is None:
                hit = self._locate(action, timings)
            obs = self._send(action, obs, secrets, timings)
        return obs, hit, None, None, feedback

    def _locate(self, action: act.Action, timings: dict[str, float]) -> dict[str, Any] | None:
        """Return a locator of what a pointer action hits (None for other actions, or when off)."""
        if not self.config.record_hits or not isinstance(action, act.Click | act.Drag | act.Scroll):
            return None
        t0 = time.monotonic()
        hit = locate_on(self.sandbox, action.x, action.y).to_json()  # OCR where there is no node
        timings["locate"] = (time.monotonic() - t0) * 1000
        return hit

    def _send(
        self, action: act.Action, obs: Observation, secrets: Mapping[str, str], timings: dict[str, float]
    ) -> Observation:
        """Send one action to the sandbox (secrets resolved only here); return the new observation."""
        for low in act.to_sandbox(action):
            if isinstance(low, _SandboxTypeText) and SECRET.search(low.text):
                low = _SandboxTypeText(resolve_secrets(low.text, secrets))
            obs = self.sandbox.step(low, settle_s=self.config.settle_s)
            for k in ("action", "settle", "total"):
                timings[f"sandbox_{k}"] = timings.get(f"sandbox_{k}", 0.0) + float(obs.timings.get(k, 0.0))
        return obs

    def _guard(self, action: act.Action, obs: Observation) -> GuardVerdict | None:
        if obs.a11y is None and self.guard.wants_a11y(action):
            try:  # a confirmation dialog's text, or a focused terminal, may show only in the tree
                obs = self.sandbox.observe(a11y=True)
            except SandboxCrashed:
                raise
            except SandboxError:
                pass  # judge by the window title alone
        return self.guard.check(action, obs)

    def _ask(self, question: str, kind: QuestionKind) -> str | None:
        return self.control.ask(question, self.config.call_user_timeout_s, kind)

    # -- recording ------------------------------------------------------------------------------
    def _record(
        self,
        run_id: str | None,
        seen: Observation,
        thought: str,
        raw: str,
        parsed: Sequence[act.Action],
        parse_error: str | None,
        hit: dict[str, Any] | None,
        timings: dict[str, float],
    ) -> None:
        if self.store is None or run_id is None:
            return
        action: dict[str, Any] | None = None
        if len(parsed) == 1:
            action = act.to_json(parsed[0])
        elif parsed:
            action = {"type": "sequence", "actions": [act.to_json(a) for a in parsed]}
        t0 = time.monotonic()
        self.store.add_step(
            run_id,
            StepRecord(thought, raw, action, parse_error, hit, dict(timings), seen.window_title),
            seen.screenshot,
        )
        timings["store"] = (time.monotonic() - t0) * 1000

    def _end(self, result: EpisodeResult, status: RunStatus, summary: str) -> None:
        result.status, result.summary = status, summary

    def _finish(self, result: EpisodeResult) -> None:
        """Write the run's end to the store (a failure to do so is said in the summary)."""
        if self.store is None or result.run_id is None:
            return
        try:
            self.store.finish_run(
                result.run_id, result.status, result.summary, final_screenshot=_image(result.final)
            )
        except StoreError as exc:
            result.summary += f" (finishing the record failed: {exc})"


def _short(actions: Sequence[act.Action]) -> str:
    text = ", ".join(act.to_pyautogui(a).splitlines()[-1] for a in actions)
    return text if len(text) <= 80 else text[:77] + "..."


def _image(obs: Observation | None) -> Image.Image | None:
    return obs.screenshot if obs is not None else None
