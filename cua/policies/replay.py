r"""Replay as a policy: the actions of a verified recorded run, each target re-found by its locator.

A replay reads only the stored step records of a run (action JSON, the ``hit`` locator of
pointer actions, the window title seen before each step). Each pointer action is re-located
on the live accessibility tree by its recorded locator, never by its old coordinates, so the
run survives a moved or resized window. The first time the screen diverges from the record
(the expected window title does not come, or a target cannot be found) the rest of the
episode goes to a fallback policy (the model); without one the episode ends as a failure.

A run can be replayed for the task it was recorded on, or for another instance of the same
family. Then the recorded values of the old task's parameters are rewritten into the new
task's values (:class:`ParamMap`):

* Only scalar parameters (strings and numbers, not booleans or lists) take part; each is
  compared as its ``str()``. Identical old and new parameter sets mean no rewriting at all.
* In typed text, window titles, locator names/texts and ``done`` answers, every occurrence of
  an old value standing as its own token (not preceded or followed by a letter or digit, so
  ``6`` is rewritten in ``"6\n"`` but not in ``"B6"``) becomes the new value, longest value
  first, in one pass (a rewritten value is never rewritten again).
* Several parameters can share one old value (``a1 = a0 = 4``). Occurrences in typed text and
  locator names then take the parameters' new values in declaration order, one occurrence
  each (the first ``4`` clicked becomes ``a1``'s new value, the second ``a0``'s, ...); once
  they are used up the last one repeats. Window titles are only compared, so they take the
  first candidate without using it up.
* A run of identical key presses recorded as one step (``down`` pressed 4 times) whose length
  equals an old numeric value is repeated as many times as the new value says.

Limits: a value that appears in the record for another reason than the parameter (a constant
that happens to equal it) is rewritten too; an ambiguous value is assumed to be used in the
order the family declares its parameters; values computed from parameters that are not
themselves parameters (a cell address derived inside the oracle, a count of clicks on a
spin button) are not rewritten. Any of these shows up as divergence or as a failed validator.

``cua.replay`` sets a task up and runs this policy through an episode.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cua import actions as act
from cua.actions import Action
from cua.errors import CuaError
from cua.locators import Locator, resolve_on
from cua.policy import Policy, PolicyInput, PolicyOutput, SettlingPolicy
from cua.store import Run, Step, TrajectoryStore
from sandbox.base import Sandbox

#: How long a replayed step waits for the recorded window title, and for its target to appear.
DEFAULT_WAIT_S = 5.0
POLL_S = 0.1


class ReplayError(CuaError):
    """A run cannot be replayed (not verified, no task, no steps, another family)."""


# -- parameters ---------------------------------------------------------------------------------
def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    return text or None


class ParamMap:
    """Rewrites the old task's parameter values into the new task's (rule: module docstring)."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """Pair each scalar parameter's old value with its new value, in declaration order."""
        self.candidates: dict[str, list[str]] = {}
        for name, value in old.items():
            before, after = _scalar(value), _scalar(new.get(name))
            if before is None or after is None:
                continue
            self.candidates.setdefault(before, []).append(after)
        self.identity = all(all(c == k for c in cs) for k, cs in self.candidates.items())
        self._used: dict[str, int] = {}
        keys = sorted(self.candidates, key=len, reverse=True)
        self._pattern = (
            re.compile("(?<![A-Za-z0-9])(" + "|".join(re.escape(k) for k in keys) + ")(?![A-Za-z0-9])")
            if keys and not self.identity
            else None
        )

    def value(self, old: str, *, consume: bool = True) -> str:
        """Return the new value for one old value (the next unused candidate when it is shared)."""
        options = self.candidates.get(old)
        if not options:
            return old
        used = self._used.get(old, 0)
        if consume:
            self._used[old] = used + 1
        return options[min(used, len(options) - 1)]

    def text(self, text: str, *, consume: bool = True) -> str:
        """Return ``text`` with every old value standing as its own token rewritten."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.value(m.group(1), consume=consume), text)

    def count(self, n: int) -> int:
        """Return how many times to repeat something the recording repeated ``n`` times."""
        if self._pattern is None or str(n) not in self.candidates:
            return n
        new = self.value(str(n))
        return int(new) if new.isdigit() else n


# -- the recording ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recording:
    """A stored run and its steps, as the replay reads them."""

    run: Run
    steps: tuple[Step, ...]


def load_recording(store: TrajectoryStore, run_id: str, *, require_verified: bool = True) -> Recording:
    """Read run ``run_id`` and its steps; ReplayError unless a verdict says it passed."""
    run = store.get_run(run_id)
    if require_verified and (run.verdict is None or not run.verdict.success):
        state = "was never judged" if run.verdict is None else "failed its verdict"
        raise ReplayError(f"run {run_id} {state}: only verified runs are replayed")
    steps = tuple(store.steps(run_id))
    if not any(s.action is not None for s in steps):
        raise ReplayError(f"run {run_id} has no recorded actions to replay")
    return Recording(run, steps)


def step_actions(step: Step) -> list[Action]:
    """Return the typed actions of one recorded step (empty for an unparsable one)."""
    return act.recorded_actions(step.action)


# -- the policy ---------------------------------------------------------------------------------
@dataclass
class ReplayStats:
    """What a replay did: steps replayed, targets re-located, and whether (why) it handed over."""

    replayed: int = 0
    relocated: int = 0
    max_shift_px: float = 0.0
    """The largest distance between a target's recorded and re-located point."""
    handed_over_at: int | None = None
    """Index of the first step the fallback answered; None when the record was played to its end."""
    reason: str | None = None


class ReplayPolicy:
    """Answers with the recorded steps, re-located on the live screen, until the screen diverges.

    On divergence it hands every later step to ``fallback`` (a ``Policy``); without a fallback
    it answers ``Fail`` with the reason. ``stats`` and ``provenance()`` say what happened.
    """

    def __init__(
        self,
        steps: Sequence[Step],
        sandbox: Sandbox,
        *,
        params: ParamMap | None = None,
        fallback: Policy | None = None,
        wait_s: float = DEFAULT_WAIT_S,
        source_run: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Prepare to replay ``steps`` on ``sandbox`` (already set up for the task)."""
        self._steps = [s for s in steps if s.action is not None and s.parse_error is None]
        self._sandbox = sandbox
        self._params = params
        self.fallback = fallback
        self._wait_s = wait_s
        self._clock = clock
        self._sleep = sleep
        self._next = 0
        self.source_run = source_run
        self.name = f"replay:{source_run}" if source_run else "replay"
        # The agent parses text answers with this format: the fallback's, since only its
        # answers are text (the replayed ones are typed actions).
        self.format_name = fallback.format_name if fallback is not None else "pyautogui"
        self.output_format = getattr(fallback, "output_format", None)
        self.stats = ReplayStats()
        self._checked: tuple[int, str | None] | None = None
        """(step position, title mismatch or None) when ``settle`` already awaited that step's title."""

    @property
    def handed_over(self) -> bool:
        """Return whether the fallback answers from now on."""
        return self.stats.handed_over_at is not None

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Return the next recorded step, re-located; or the fallback's answer after divergence."""
        if self.handed_over:
            return self._fallback(inp)
        if self._next >= len(self._steps):
            return PolicyOutput(text="the recording is complete", actions=[act.Done()])
        step = self._steps[self._next]
        if self._checked is not None and self._checked[0] == self._next:
            problem = self._checked[1]
        else:
            problem = self._await_title(step)
        self._checked = None
        self._next += 1
        if problem is None:
            try:
                actions = self._rewrite(step)
            except _Diverged as exc:
                problem = str(exc)
        if problem is not None:
            self.stats.handed_over_at = inp.step
            self.stats.reason = f"recorded step {step.index}: {problem}"
            return self._fallback(inp)
        self.stats.replayed += 1
        thought = step.thought or ""
        if self._params is not None:
            thought = self._params.text(thought, consume=False)
        return PolicyOutput(text=f"replay of step {step.index}: {thought}".strip(), actions=actions)

    def settle(self) -> bool:
        """Wait for the title the recording saw before its next step, before the loop observes.

        So the replay's own record shows each screen once it matches the recording. A mismatch
        is kept for ``act``, which hands over without waiting a second time.
        """
        if self.handed_over:
            return self.fallback.settle() if isinstance(self.fallback, SettlingPolicy) else False
        if self._next >= len(self._steps) or self._steps[self._next].window_title is None:
            return False
        self._checked = (self._next, self._await_title(self._steps[self._next]))
        return True

    def _fallback(self, inp: PolicyInput) -> PolicyOutput:
        if self.fallback is None:
            return PolicyOutput(
                text=f"replay diverged, no fallback: {self.stats.reason}",
                actions=[act.Fail(f"replay diverged: {self.stats.reason}")],
            )
        return self.fallback.act(inp)

    def _await_title(self, step: Step) -> str | None:
        """Wait until the live window title is the recorded one; return the mismatch otherwise."""
        if step.window_title is None:
            return None
        expected = self._params.text(step.window_title, consume=False) if self._params else step.window_title
        deadline = self._clock() + self._wait_s
        while True:
            title = self._sandbox.observe().window_title
            if title == expected:
                return None
            if self._clock() >= deadline:
                return f"the window title is {title!r}, the recording expected {expected!r}"
            self._sleep(POLL_S)

    def _rewrite(self, step: Step) -> list[Action]:
        actions = step_actions(step)
        params = self._params
        if params is not None:
            actions = self._map_params(actions, params)
        pointer = [a for a in actions if isinstance(a, act.Click | act.Drag | act.Scroll)]
        if not pointer:
            return actions
        if not step.hit:
            raise _Diverged("a pointer action without a recorded locator")
        locator = Locator.from_json(dict(step.hit))
        if locator.role is None and locator.name is None and locator.text is None:
            raise _Diverged("the recorded target is only a point, nothing to re-find it by")
        if params is not None:
            name = params.text(locator.name) if locator.name is not None else None
            text = locator.text
            if text is not None:
                text = name if text == locator.name else params.text(text, consume=False)
            locator = replace(locator, name=name, text=text)
        point = self._locate(locator)
        first = pointer[0]
        dx, dy = point[0] - first.x, point[1] - first.y
        self.stats.relocated += 1
        self.stats.max_shift_px = max(self.stats.max_shift_px, math.hypot(dx, dy))
        return [_shift(a, dx, dy) for a in actions]

    def _locate(self, locator: Locator) -> tuple[int, int]:
        deadline = self._clock() + self._wait_s
        while True:
            point = resolve_on(self._sandbox, locator)  # the tree, then OCR text where it has none
            if point is not None:
                return point
            if self._clock() >= deadline:
                raise _Diverged(f"{locator.describe()} is not on the screen")
            self._sleep(POLL_S)

    @staticmethod
    def _map_params(actions: list[Action], params: ParamMap) -> list[Action]:
        if len(actions) > 1 and all(isinstance(a, act.Key) and a == actions[0] for a in actions):
            return [actions[0]] * params.count(len(actions))
        out: list[Action] = []
        for a in actions:
            if isinstance(a, act.TypeText):
                a = act.TypeText(params.text(a.text))
            elif isinstance(a, act.Done) and a.answer:
                a = act.Done(params.text(a.answer))
            out.append(a)
        return out

    def provenance(self) -> dict[str, Any]:
        """Name the replayed run, what was re-located, and the fallback (when it took over)."""
        info: dict[str, Any] = {
            "backend": "replay",
            "model": self.name,
            "source_run": self.source_run,
            "replayed": self.stats.replayed,
            "relocated": self.stats.relocated,
            "handed_over_at": self.stats.handed_over_at,
            "handover_reason": self.stats.reason,
        }
        if self.fallback is not None:
            info["fallback"] = self.fallback.provenance()
        return info


class _Diverged(Exception):
    """The live screen no longer matches the recording (internal: triggers the handover)."""


def _shift(action: Action, dx: int, dy: int) -> Action:
    if isinstance(action, act.Drag):
        return replace(action, x=action.x + dx, y=action.y + dy, to_x=action.to_x + dx, to_y=action.to_y + dy)
    if isinstance(action, act.Click | act.Scroll | act.Move):
        return replace(action, x=action.x + dx, y=action.y + dy)
    return action
