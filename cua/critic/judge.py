"""The VLM judge: ask any ``Policy`` backend whether a finished run did its task, CUAJudge-style.

Three stages (the protocol is written out in ``docs/judge.md``):

1. **Key points**: the model lists the requirements the instruction states (one per line).
2. **Key screenshots**: each candidate screenshot (distinct screens, the final one always among
   them) is scored 1-5 for how much it shows about those key points; the best few are kept.
3. **Outcome**: the model sees the instruction, the key points, the action list and the key
   screenshots (the final screen as the current image) and answers with a verdict.

The answer is parsed by :func:`parse_judge_answer`, which never raises: a JSON object with a
``verdict`` (or ``success``/``outcome``) field, or a ``VERDICT: success|failure|unknown`` line;
anything else is an unknown verdict whose reason says what was wrong with the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from cua.actions import recorded_items
from cua.errors import CuaError
from cua.policy import HistoryItem, Policy, PolicyInput
from cua.store import Run, Step
from cua.store.html_page import action_text

#: Candidate screenshots scored in stage 2 (evenly spaced, the final one always included).
MAX_CANDIDATES = 6
#: Key screenshots shown in stage 3.
MAX_KEY_SCREENSHOTS = 3
#: A candidate scoring below this (1-5) is not a key screenshot (unless nothing scores higher).
KEY_SCORE_THRESHOLD = 3

_WORDS = {
    "success": True, "succeeded": True, "successful": True, "pass": True, "passed": True,
    "true": True, "yes": True, "complete": True, "completed": True,
    "failure": False, "fail": False, "failed": False, "false": False, "no": False,
    "incomplete": False,
    "unknown": None, "unsure": None, "uncertain": None, "none": None, "null": None,
}  # fmt: skip
_VERDICT_LINE = re.compile(
    r"^[\s>*#`_-]*verdict[\s*_`]*[:=][\s*_`\"']*([A-Za-z]+)", re.IGNORECASE | re.MULTILINE
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)

KEY_POINTS_PROMPT = """You are judging whether a computer-use agent completed a task on a Linux desktop.
Task: {instruction}

List the key points: the concrete requirements a finished task must meet (values, files, \
application state). Answer with one key point per line, each starting with "- ". Do not judge yet."""

SCREENSHOT_PROMPT = """You are judging whether a computer-use agent completed a task on a Linux desktop.
Task: {instruction}
Key points:
{key_points}

This screenshot is step {label} of the agent's run. How much does it show about whether the key \
points are met? Answer with one line "SCORE: N", N from 1 (nothing relevant) to 5 (decisive), \
then one line of reason."""

OUTCOME_PROMPT = """You are judging whether a computer-use agent completed a task on a Linux desktop.
Task: {instruction}
Key points:
{key_points}

The agent's actions, in order:
{actions}
The agent ended with status "{status}": {summary}

The current image is the screen after the last action; earlier images are key screenshots \
({shots}). Judge only from what the screenshots show, not from what the agent claims. Check \
every key point. Answer with a JSON object:
{{"key_points": [{{"point": "...", "met": true}}], "reasons": ["..."], \
"verdict": "success" | "failure" | "unknown", "score": 0.0-1.0}}
or end your answer with a line "VERDICT: success", "VERDICT: failure" or "VERDICT: unknown"."""


@dataclass(frozen=True)
class JudgeAnswer:
    """A parsed judge answer: the verdict, a score, reasons and per-key-point results."""

    success: bool | None
    score: float | None = None
    reasons: tuple[str, ...] = ()
    key_points: tuple[Mapping[str, Any], ...] = ()
    parsed_from: str = "none"
    """How the verdict was read: ``json``, ``line`` or ``none`` (unparseable: unknown)."""


def _word(value: Any) -> tuple[bool, bool | None]:
    """Return (recognised, verdict) for a verdict value in a JSON answer or a VERDICT line."""
    if isinstance(value, bool):
        return True, value
    if value is None:
        return True, None
    if isinstance(value, str) and value.strip().lower() in _WORDS:
        return True, _WORDS[value.strip().lower()]
    return False, None


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if 0.0 <= number <= 1.0 else None


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Return the JSON objects found in ``text``: fenced blocks first, then any ``{...}`` span."""
    found: list[dict[str, Any]] = []
    chunks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for chunk in chunks:
        start = chunk.find("{")
        while start != -1:
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except (ValueError, RecursionError):
                start = chunk.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                found.append(obj)
            start = chunk.find("{", start + 1)
    return found


def _from_json(obj: Mapping[str, Any]) -> JudgeAnswer | None:
    for key in ("verdict", "success", "outcome", "result"):
        if key not in obj:
            continue
        ok, verdict = _word(obj[key])
        if not ok:
            continue
        raw_reasons = obj.get("reasons", obj.get("reason", ()))
        if isinstance(raw_reasons, str):
            raw_reasons = [raw_reasons]
        reasons = tuple(str(r) for r in raw_reasons) if isinstance(raw_reasons, list | tuple) else ()
        points = obj.get("key_points", ())
        key_points = tuple(p for p in points if isinstance(p, Mapping)) if isinstance(points, list) else ()
        return JudgeAnswer(verdict, _score(obj.get("score")), reasons, key_points, "json")
    return None


def parse_judge_answer(text: Any) -> JudgeAnswer:
    """Read a verdict from a judge's answer; never raises (unreadable -> unknown with the reason).

    A JSON object with a recognised ``verdict``/``success``/``outcome``/``result`` value wins;
    otherwise ``VERDICT: ...`` lines, which must all agree.
    """
    if not isinstance(text, str):
        return JudgeAnswer(None, reasons=(f"the judge answered {type(text).__name__}, not text",))
    try:
        for obj in reversed(_json_objects(text)):
            answer = _from_json(obj)
            if answer is not None:
                return answer
        words = [m.group(1).lower() for m in _VERDICT_LINE.finditer(text)]
        verdicts = {_WORDS[w] for w in words if w in _WORDS}
        if len(verdicts) == 1:
            verdict = verdicts.pop()
            reasons = tuple(
                line.strip() for line in text.splitlines() if line.strip() and not _VERDICT_LINE.match(line)
            )[:10]
            return JudgeAnswer(verdict, None, reasons, (), "line")
        if len(verdicts) > 1:
            return JudgeAnswer(None, reasons=("the judge gave conflicting VERDICT lines",))
        snippet = " ".join(text.split())[:120]
        return JudgeAnswer(
            None,
            reasons=(f"no verdict in the judge's answer (no JSON verdict, no VERDICT line): {snippet!r}",),
        )
    except Exception as exc:  # a parser must never take the critic down; say what happened instead
        return JudgeAnswer(None, reasons=(f"the judge's answer could not be read: {type(exc).__name__}",))


def parse_key_points(text: str, instruction: str) -> list[str]:
    """Return the key points listed in ``text`` (``- `` or ``1.`` lines); the instruction if none."""
    points = []
    for line in text.splitlines():
        m = re.match(r"^\s*(?:[-*•]|\d+[.)])\s+(.+?)\s*$", line)
        if m and not _VERDICT_LINE.match(m.group(1)):
            points.append(m.group(1))
    return points[:10] or [" ".join(instruction.split())]


def parse_screenshot_score(text: str) -> int | None:
    """Return N from a ``SCORE: N`` line (1-5), or None when the answer has no such score."""
    m = re.search(r"score\s*[:=]\s*([1-5])\b", text, re.IGNORECASE)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class JudgeResult:
    """A judge's verdict on a run with what it looked at."""

    answer: JudgeAnswer
    key_points: tuple[str, ...]
    key_screenshots: tuple[str, ...]
    """sha256 of the screenshots shown in the outcome stage, the final screen last."""
    screenshot_scores: Mapping[str, int | None] = field(default_factory=dict)
    raw_outcome: str = ""


def _describe(step: Step) -> str:
    if step.action is not None:
        return "; ".join(action_text(a) for a in recorded_items(step.action)) or action_text(None)
    return f"(unparsed output: {step.parse_error or 'no action'})"


class ModelJudge:
    """Judges runs with a vision-language model behind the ``Policy`` protocol (see module docs)."""

    def __init__(self, policy: Policy, *, max_candidates: int = MAX_CANDIDATES) -> None:
        self.policy = policy
        self.max_candidates = max_candidates
        self.name = f"judge:{policy.name}"

    def _ask(self, prompt: str, image: Image.Image, history: Sequence[HistoryItem] = ()) -> str:
        out = self.policy.act(PolicyInput(prompt, image, image.size, history=tuple(history)))
        return out.text if isinstance(out.text, str) else ""

    def judge(self, run: Run, steps: Sequence[Step], screenshots: Mapping[str, Image.Image]) -> JudgeResult:
        """Run the three stages on a run; PolicyError from the backend propagates."""
        ordered = sorted(steps, key=lambda s: s.index)
        labelled: list[tuple[str, str]] = []  # (sha, label), distinct screens in order
        for step in ordered:
            if step.screenshot in screenshots and all(step.screenshot != s for s, _ in labelled):
                labelled.append((step.screenshot, str(step.index)))
        final = run.final_screenshot if run.final_screenshot in screenshots else None
        if final is not None:
            labelled = [item for item in labelled if item[0] != final] + [(final, "final")]
        if not labelled:
            answer = JudgeAnswer(None, reasons=("no screenshot of the run is available to judge",))
            return JudgeResult(answer, (), ())
        first = screenshots[labelled[-1][0]]
        points = parse_key_points(
            self._ask(KEY_POINTS_PROMPT.format(instruction=run.instruction), first), run.instruction
        )
        point_text = "\n".join(f"- {p}" for p in points)
        # Stage 2 on evenly spaced candidates; the last (final) screen is always one.
        if len(labelled) > self.max_candidates:
            step_ = (len(labelled) - 1) / (self.max_candidates - 1)
            labelled = [labelled[round(i * step_)] for i in range(self.max_candidates)]
        scores: dict[str, int | None] = {}
        for sha, label in labelled:
            prompt = SCREENSHOT_PROMPT.format(instruction=run.instruction, key_points=point_text, label=label)
            scores[sha] = parse_screenshot_score(self._ask(prompt, screenshots[sha]))
        final_sha, final_label = labelled[-1]
        earlier = [
            (sha, label)
            for sha, label in labelled[:-1]
            if (scores[sha] or KEY_SCORE_THRESHOLD) >= KEY_SCORE_THRESHOLD
        ]
        earlier.sort(key=lambda item: -(scores[item[0]] or KEY_SCORE_THRESHOLD))
        earlier = sorted(earlier[: MAX_KEY_SCREENSHOTS - 1], key=lambda item: labelled.index(item))
        actions = "\n".join(f"{s.index}. {_describe(s)}" for s in ordered) or "(none)"
        shots = ", ".join([f"step {label}" for _, label in earlier] + [f"{final_label} (current)"])
        prompt = OUTCOME_PROMPT.format(
            instruction=run.instruction, key_points=point_text, actions=actions, status=run.status.value,
            summary=" ".join(run.summary.split())[:300], shots=shots,
        )  # fmt: skip
        history = [HistoryItem(f"key screenshot: step {label}", screenshots[sha]) for sha, label in earlier]
        raw = self._ask(prompt, screenshots[final_sha], history)
        answer = parse_judge_answer(raw)
        keys = (*(sha for sha, _ in earlier), final_sha)
        return JudgeResult(answer, tuple(points), keys, scores, raw)

    def provenance(self) -> dict[str, Any]:
        """Describe the judge's model, for verdict evidence."""
        try:
            info = dict(self.policy.provenance())
        except CuaError:
            info = {}
        return {"judge": "cuajudge-v1", "policy": self.policy.name, **info}


__all__ = [
    "JudgeAnswer",
    "JudgeResult",
    "ModelJudge",
    "parse_judge_answer",
    "parse_key_points",
    "parse_screenshot_score",
]
