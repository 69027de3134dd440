"""The step loop: observe → memory → policy → parse → safety → act → record, until an end.

One episode runs one instruction on one sandbox that has already been reset. Every step is
recorded durably before the next action; the run ends as ``success`` (the agent said done; a
verdict later says whether it really is), ``failure`` (it gave up, ran out of steps, looped or
kept writing unparsable output), ``needs_user``, ``cancelled`` or ``error`` (the sandbox, the
model or the disk failed), and the run summary says which and why. Pause, resume and cancel
work from any thread; events are plain Python callbacks that the UI adapts into Qt signals.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from cua import actions as act
from cua.agent.control import AgentControl
from cua.agent.safety import GuardVerdict, SafetyGuard
from cua.errors import CuaError, PolicyError, SandboxCrashed, SandboxError
from cua.formats import OutputFormat, ParseError, get_format
from cua.locators import locate_point
from cua.policy import HistoryItem, Policy, PolicyInput, Recall, SettlingPolicy
from cua.store import Provenance, RunInfo, RunStatus, StepRecord, StoreError, TrajectoryStore
from sandbox.actions import TypeText as _SandboxTypeText
from sandbox.base import Observation, Sandbox

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


def policy_input(
    instruction: str,
    obs: Observation,
    history: Sequence[HistoryItem],
    history_screenshots: int,
    feedback: str | None = None,
    memory: str | Recall | None = None,
    step: int = 0,
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
    return PolicyInput(
        instruction, obs.screenshot, obs.size, window, feedback, text, step, memory_images=images
    )


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
    ) -> None:
        """Wire a policy to a sandbox; ``ask_user`` makes the run interactive (else batch)."""
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
        self.control = AgentControl()

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
    ) -> EpisodeResult:
        """Run one episode from ``first`` (the observation after reset) until it ends."""
        secrets = dict(secrets or {})
        run_id = None
        if self.store is not None:
            run_id = self.store.start_run(
                RunInfo(instruction, app, self.provenance(seed), task_id, task_hash, dict(extra or {})),
                secrets=secrets,
            )
        self.guard.reset()
        if isinstance(self.memory, EpisodicMemory):
            self.memory.begin_episode(run_id)
        result = self._loop(instruction, first, run_id, secrets)
        if self.store is not None and run_id is not None:
            try:
                self.store.finish_run(
                    run_id, result.status, result.summary, final_screenshot=_image(result.final)
                )
            except StoreError as exc:
                result.summary += f" (finishing the record failed: {exc})"
        return result

    # -- the loop -------------------------------------------------------------------------------
    def _loop(
        self, instruction: str, obs: Observation, run_id: str | None, secrets: Mapping[str, str]
    ) -> EpisodeResult:
        cfg = self.config
        history: list[HistoryItem] = []
        feedback: str | None = None
        parse_errors = 0
        repeats = 0
        last_actions: tuple[act.Action, ...] | None = None
        result = EpisodeResult(run_id, RunStatus.FAILURE, "", 0, final=obs)
        for index in range(cfg.max_steps):
            self.control.wait_while_paused()
            if self.control.cancelled:
                return self._end(result, RunStatus.CANCELLED, "cancelled by the user", index)
            t_step = time.monotonic()
            timings: dict[str, float] = {}
            seen = obs
            memory = self.memory.retrieve(instruction, obs, history)
            t0 = time.monotonic()
            try:
                out = self.policy.act(
                    policy_input(instruction, obs, history, cfg.history_screenshots, feedback, memory, index)
                )
            except PolicyError as exc:
                return self._end(result, RunStatus.ERROR, f"the model failed: {exc}", index)
            timings["policy"] = (time.monotonic() - t0) * 1000
            t0 = time.monotonic()
            thought, parsed, parse_error = out.text, list(out.actions or []), None
            if out.actions is None:
                try:
                    p = self.format.parse(out.text, obs.size, obs.size, pointer=obs.cursor)
                    thought, parsed = p.thought, list(p.actions)
                except ParseError as exc:
                    parse_error = exc.feedback
            timings["parse"] = (time.monotonic() - t0) * 1000
            feedback = None
            hit = None
            answer = None
            end: tuple[RunStatus, str] | None = None
            if parse_error is not None:
                parse_errors += 1
                feedback = f"Your last output could not be parsed: {parse_error}"
                if parse_errors >= cfg.max_parse_errors:
                    end = (
                        RunStatus.FAILURE,
                        f"{parse_errors} unparsable outputs in a row; last: {parse_error}",
                    )
            else:
                parse_errors = 0
                try:
                    obs, hit, answer, end, feedback = self._act(parsed, obs, secrets, timings)
                    if end is None and isinstance(self.policy, SettlingPolicy):
                        t0 = time.monotonic()
                        if self.policy.settle():  # the policy waited: look again
                            obs = replace(self.sandbox.observe(), changed=obs.changed)
                        timings["policy_settle"] = (time.monotonic() - t0) * 1000
                except PolicyError as exc:
                    end = (RunStatus.ERROR, f"the model failed: {exc}")
                except SandboxCrashed as exc:
                    end = (RunStatus.ERROR, f"the sandbox failed: {exc}")
                except (SandboxError, CuaError) as exc:
                    feedback = f"That action was refused: {exc}"
            if end is None and parse_error is None:
                key = tuple(parsed)
                repeats = repeats + 1 if key == last_actions and not obs.changed else 0
                last_actions = key
                if repeats + 1 >= 2 * cfg.loop_limit:
                    end = (RunStatus.FAILURE, f"stopped after repeating {_short(parsed)} without effect")
                elif repeats + 1 >= cfg.loop_limit:
                    feedback = (
                        f"You repeated {_short(parsed)} {repeats + 1} times and the screen did not change. "
                        "Try something different."
                    )
            timings["step"] = (time.monotonic() - t_step) * 1000
            try:
                self._record(run_id, seen, thought, out.text, parsed, parse_error, hit, timings)
            except StoreError as exc:
                return self._end(result, RunStatus.ERROR, f"recording the step failed: {exc}", index)
            result.step_timings.append(timings)
            history.append(HistoryItem(out.text, seen.screenshot, feedback))
            if self.on_step is not None:
                self.on_step(
                    StepEvent(index, thought, tuple(parsed), out.text, parse_error, feedback, obs, timings)
                )
            result.final = obs
            if answer is not None:
                result.answer = answer
            if end is not None:
                return self._end(result, end[0], end[1], index + 1)
        return self._end(result, RunStatus.FAILURE, f"step budget of {cfg.max_steps} spent", cfg.max_steps)

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
                answer = self._ask(action.question or "The agent needs help.")
                if answer is None:
                    return obs, hit, None, (RunStatus.NEEDS_USER, f"asked the user: {action.question}"), None
                return obs, hit, None, None, f"The user answered: {answer}"
            verdict = self._guard(action, obs)
            if verdict is not None:
                answer = self._ask(verdict.question())
                if answer is None or answer.strip().lower() not in ("y", "yes", "allow", "ok"):
                    end = (RunStatus.NEEDS_USER, f"stopped by the safety guard: {verdict.reason}")
                    if answer is None:
                        return obs, hit, None, end, None
                    return obs, hit, None, None, "The user did not allow that command; do something else."
                self.guard.allowed(verdict)
            if (
                self.config.record_hits
                and hit is None
                and isinstance(action, act.Click | act.Drag | act.Scroll)
            ):
                t0 = time.monotonic()
                tree = self.sandbox.observe(a11y=True).a11y
                hit = locate_point(tree, action.x, action.y).to_json()
                timings["locate"] = (time.monotonic() - t0) * 1000
            for low in act.to_sandbox(action):
                if isinstance(low, _SandboxTypeText) and SECRET.search(low.text):
                    low = _SandboxTypeText(resolve_secrets(low.text, secrets))
                obs = self.sandbox.step(low, settle_s=self.config.settle_s)
                for k in ("action", "settle", "total"):
                    timings[f"sandbox_{k}"] = timings.get(f"sandbox_{k}", 0.0) + float(
                        obs.timings.get(k, 0.0)
                    )
        return obs, hit, None, None, feedback

    def _guard(self, action: act.Action, obs: Observation) -> GuardVerdict | None:
        if obs.a11y is None and self.guard.wants_a11y(action):
            try:  # a confirmation dialog's text, or a focused terminal, may show only in the tree
                obs = self.sandbox.observe(a11y=True)
            except SandboxCrashed:
                raise
            except SandboxError:
                pass  # judge by the window title alone
        return self.guard.check(action, obs)

    def _ask(self, question: str) -> str | None:
        if self.ask_user is None:
            return None
        return self.ask_user(question, self.config.call_user_timeout_s)

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

    def _end(self, result: EpisodeResult, status: RunStatus, summary: str, steps: int) -> EpisodeResult:
        result.status, result.summary, result.steps = status, summary, steps
        return result


def _short(actions: Sequence[act.Action]) -> str:
    text = ", ".join(act.to_pyautogui(a).splitlines()[-1] for a in actions)
    return text if len(text) <= 80 else text[:77] + "..."


def _image(obs: Observation | None) -> Image.Image | None:
    return obs.screenshot if obs is not None else None
