"""Heuristic checks of a finished run: cheap red flags read from the recorded steps alone.

Three checks, each over what ``Step`` records hold (no sandbox, no model, no pixels decoded):

- **no screen change**: a step's screenshot is what the policy saw *before* its action, so the
  action of step ``i`` changed nothing visible when step ``i + 1`` (or the run's final
  screenshot, after the last step) has the same sha256. A run whose every acting step changed
  nothing, or that never acted at all, did not do the task by any visible means.
- **repeated actions**: the same action JSON several times in a row (a stuck policy).
- **error text**: error-like words in the window titles and in the accessibility text of what
  clicks hit (``Step.hit``: role, name, text), e.g. an "Error" dialog or "Permission denied".

Heuristics are evidence, not proof: ``HeuristicReport.verdict`` commits to *failure* on a strong
red flag, to a weak *success* only when the agent said it was done, the screen changed and
nothing looks wrong, and otherwise stays unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cua.actions import recorded_items
from cua.store import Run, RunStatus, Step

#: Action types that do not act on the screen: a stable screen after them is expected.
PASSIVE_ACTIONS = frozenset({"done", "fail", "wait", "call_user"})
#: This many identical consecutive actions count as "repeated".
REPEAT_THRESHOLD = 3
#: Words that, in a window title or an accessible name, suggest an error dialog or message.
ERROR_PATTERN = re.compile(
    r"\b(error|errors|warning|failed|failure|cannot|can't|could not|unable|exception|"
    r"not found|no such file|permission denied|access denied|invalid|crash(?:ed)?)\b",
    re.IGNORECASE,
)
#: Score given to the weak success a heuristic may commit to (it never gives 1.0).
WEAK_SUCCESS_SCORE = 0.6


def _acts(action: Mapping[str, Any] | None) -> bool:
    return any(str(a.get("type")) not in PASSIVE_ACTIONS for a in recorded_items(action))


def _action_key(action: Mapping[str, Any] | None) -> str | None:
    if action is None:
        return None
    return json.dumps(action, sort_keys=True, default=str)


@dataclass(frozen=True)
class HeuristicReport:
    """What the heuristic checks found in one run; ``flags`` names the checks that fired."""

    acting_steps: int
    """Steps whose action acts on the screen (not done/fail/wait/call_user, not a parse error)."""
    unchanged_steps: tuple[int, ...]
    """Indices of acting steps after which the screenshot hash did not change."""
    repeats: tuple[tuple[int, int], ...]
    """(first step index, length) of each run of >= REPEAT_THRESHOLD identical actions."""
    error_texts: tuple[str, ...]
    """Error-like window titles and accessible texts seen, each once, in order."""
    parse_errors: int
    """Steps whose model output could not be parsed."""
    claimed_done: bool
    """Whether the agent ended the run saying the task was done (status ``success``)."""
    screens: tuple[str, ...] = field(default=())
    """The sha256 of every distinct screenshot in order (steps, then the final one)."""

    @property
    def no_screen_change(self) -> bool:
        """Return whether nothing the agent did changed the screen (or it never acted)."""
        return self.acting_steps == 0 or len(self.unchanged_steps) == self.acting_steps

    @property
    def flags(self) -> tuple[str, ...]:
        """Return the names of the checks that fired, in a fixed order."""
        out = []
        if self.no_screen_change:
            out.append("no_screen_change")
        if self.repeats:
            out.append("repeated_actions")
        if self.error_texts:
            out.append("error_text")
        if not self.claimed_done:
            out.append("not_claimed_done")
        return tuple(out)

    def reasons(self) -> list[str]:
        """Return one line per finding, for a verdict's reasons."""
        lines = []
        if self.acting_steps == 0:
            lines.append("the agent never acted on the screen")
        elif self.no_screen_change:
            lines.append(f"none of the {self.acting_steps} actions changed the screen")
        elif self.unchanged_steps:
            lines.append(
                f"{len(self.unchanged_steps)} of {self.acting_steps} actions changed nothing visible"
            )
        for start, length in self.repeats:
            lines.append(f"the same action {length} times in a row from step {start}")
        for text in self.error_texts[:5]:
            lines.append(f"error-like text on screen: {text!r}")
        if self.parse_errors:
            lines.append(f"{self.parse_errors} model outputs could not be parsed")
        if not self.claimed_done:
            lines.append("the agent did not declare the task done")
        return lines

    def evidence(self) -> dict[str, Any]:
        """Return the findings as JSON for a verdict's evidence."""
        return {
            "checks": list(self.flags),
            "acting_steps": self.acting_steps,
            "unchanged_steps": list(self.unchanged_steps),
            "repeats": [list(r) for r in self.repeats],
            "error_texts": list(self.error_texts),
            "parse_errors": self.parse_errors,
            "claimed_done": self.claimed_done,
            "screenshots": list(self.screens),
        }

    def verdict(self) -> tuple[bool | None, float | None]:
        """Return (success, score) that the heuristics alone support.

        Failure (score 0) when the agent did not claim success, when nothing it did changed the
        screen, or when error text appeared; a weak success when it claimed done, changed the
        screen and nothing looks wrong; unknown when only a repeat loop was seen.
        """
        if not self.claimed_done or self.no_screen_change or self.error_texts:
            return False, 0.0
        if self.repeats:
            return None, None
        return True, WEAK_SUCCESS_SCORE


def _texts(step: Step) -> list[str]:
    out = []
    if step.window_title:
        out.append(step.window_title)
    if step.hit:
        for key in ("name", "text"):
            value = step.hit.get(key)
            if isinstance(value, str) and value:
                out.append(value)
    return out


def check_run(run: Run, steps: Sequence[Step]) -> HeuristicReport:
    """Run every heuristic check on a finished run and its steps (in index order)."""
    ordered = sorted(steps, key=lambda s: s.index)
    after = [s.screenshot for s in ordered[1:]] + [run.final_screenshot]
    acting = 0
    unchanged = []
    for step, next_shot in zip(ordered, after, strict=True):
        if not _acts(step.action):
            continue
        acting += 1
        if next_shot is not None and next_shot == step.screenshot:
            unchanged.append(step.index)
    repeats = []
    i = 0
    while i < len(ordered):
        key = _action_key(ordered[i].action)
        j = i + 1
        while key is not None and j < len(ordered) and _action_key(ordered[j].action) == key:
            j += 1
        if key is not None and j - i >= REPEAT_THRESHOLD and _acts(ordered[i].action):
            repeats.append((ordered[i].index, j - i))
        i = j
    errors: list[str] = []
    for step in ordered:
        for text in _texts(step):
            if ERROR_PATTERN.search(text) and text not in errors:
                errors.append(text)
    screens: list[str] = []
    for sha in [s.screenshot for s in ordered] + [run.final_screenshot]:
        if sha is not None and sha not in screens:
            screens.append(sha)
    return HeuristicReport(
        acting_steps=acting,
        unchanged_steps=tuple(unchanged),
        repeats=tuple(repeats),
        error_texts=tuple(errors),
        parse_errors=sum(1 for s in ordered if s.parse_error),
        claimed_done=run.status == RunStatus.SUCCESS,
        screens=tuple(screens),
    )


__all__ = ["ERROR_PATTERN", "REPEAT_THRESHOLD", "HeuristicReport", "check_run"]
