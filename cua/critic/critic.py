"""The critic: one verdict on a finished run from three kinds of evidence, in a fixed order.

1. **Validator** (authoritative): when the task's executable validator has already scored the
   run, its pass/fail is the verdict; no model is asked.
2. **Judge**: otherwise a vision-language judge (``ModelJudge``) is asked; when it commits to
   success or failure, that is the verdict.
3. **Heuristics**: when there is no judge, or the judge answers unknown, the heuristic checks
   decide (they commit only on clear red flags, or to a weak success; see ``heuristics``).

The heuristic checks always run (they are cheap) and their findings are attached as evidence
to every verdict, whoever decided it, so a reviewer sees "validator passed, but three actions
changed nothing". A person can overrule any verdict later with :func:`overrule`; the store
treats the newest verdict as current, so that is simply one more verdict with source ``person``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from cua.critic.heuristics import check_run
from cua.critic.judge import ModelJudge
from cua.errors import CuaError, UsageError
from cua.store import Run, Step, TrajectoryStore, Verdict, VerdictSource
from cua.tasks import TaskSpec
from cua.tasks.validators import ValidatorVerdict


@dataclass(frozen=True)
class CriticVerdict:
    """The critic's judgement of one run, ready for ``TrajectoryStore.add_verdict``."""

    source: VerdictSource
    """Which evidence decided: validator, judge or heuristic."""
    success: bool | None
    score: float | None
    reasons: tuple[str, ...]
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """JSON: ``decided_by``, ``heuristics`` (checks and screenshot hashes), ``judge`` when asked."""

    def save(self, store: TrajectoryStore, run_id: str) -> Verdict:
        """Store this verdict with the run (it becomes the run's current verdict)."""
        return store.add_verdict(
            run_id, self.source, self.success, score=self.score, reasons=self.reasons, evidence=self.evidence
        )


class Critic:
    """Combines validator, judge and heuristics in the order the module docstring gives.

    ``judge`` is None for a critic without a model (validator, then heuristics).
    """

    def __init__(self, judge: ModelJudge | None = None) -> None:
        self.judge_model = judge

    def judge(
        self,
        run: Run,
        steps: Sequence[Step],
        screenshots: Mapping[str, Image.Image] | None = None,
        task: TaskSpec | None = None,
        validator_verdict: ValidatorVerdict | None = None,
    ) -> CriticVerdict:
        """Return the verdict on ``run``; ``screenshots`` maps sha256 to image (needed by a judge).

        A model backend's ``PolicyError`` is caught: the judge then counts as unknown, and the
        reason names the error.
        """
        report = check_run(run, steps)
        evidence: dict[str, Any] = {"heuristics": report.evidence()}
        if task is not None:
            evidence["task"] = task.id
        notes = [f"heuristics: {line}" for line in report.reasons()]
        if validator_verdict is not None:
            evidence["decided_by"] = "validator"
            reasons = (*validator_verdict.reasons, *notes)
            return CriticVerdict(
                VerdictSource.VALIDATOR, validator_verdict.passed, validator_verdict.score, reasons, evidence
            )
        judge_reasons: list[str] = []
        if self.judge_model is not None:
            try:
                result = self.judge_model.judge(run, steps, screenshots or {})
            except CuaError as exc:
                judge_reasons = [f"judge: the model failed: {exc}"]
                evidence["judge"] = {"error": str(exc), **self.judge_model.provenance()}
            else:
                answer = result.answer
                evidence["judge"] = {
                    **self.judge_model.provenance(),
                    "key_points": list(result.key_points),
                    "key_point_results": [dict(p) for p in answer.key_points],
                    "key_screenshots": list(result.key_screenshots),
                    "screenshot_scores": dict(result.screenshot_scores),
                    "parsed_from": answer.parsed_from,
                    "answer": result.raw_outcome[:4000],
                }
                if answer.success is not None:
                    evidence["decided_by"] = "judge"
                    score = answer.score if answer.score is not None else float(answer.success)
                    return CriticVerdict(
                        VerdictSource.JUDGE, answer.success, score, (*answer.reasons, *notes), evidence
                    )
                judge_reasons = [f"judge: unknown: {r}" for r in answer.reasons] or ["judge: unknown"]
        success, heuristic_score = report.verdict()
        evidence["decided_by"] = "heuristic"
        reasons = (*judge_reasons, *notes)
        return CriticVerdict(VerdictSource.HEURISTIC, success, heuristic_score, reasons, evidence)

    def judge_stored(
        self,
        store: TrajectoryStore,
        run_id: str,
        *,
        task: TaskSpec | None = None,
        validator_verdict: ValidatorVerdict | None = None,
        save: bool = True,
    ) -> CriticVerdict:
        """Judge a run read from ``store`` (screenshots loaded only when a judge needs them).

        ``save`` stores the verdict with the run, where it becomes the current verdict.
        """
        run = store.get_run(run_id)
        steps = store.steps(run_id)
        screenshots = load_screenshots(store, run, steps) if self.judge_model is not None else {}
        verdict = self.judge(run, steps, screenshots, task=task, validator_verdict=validator_verdict)
        if save:
            verdict.save(store, run_id)
        return verdict


def load_screenshots(store: TrajectoryStore, run: Run, steps: Sequence[Step]) -> dict[str, Image.Image]:
    """Return every distinct screenshot of a run (steps and final) by sha256; missing files are skipped."""
    out: dict[str, Image.Image] = {}
    for sha in [s.screenshot for s in steps] + [run.final_screenshot]:
        if sha is None or sha in out:
            continue
        try:
            out[sha] = store.screenshot(sha)
        except LookupError:
            continue
    return out


def overrule(store: TrajectoryStore, run_id: str, success: bool | None, reason: str) -> Verdict:
    """Record a person's verdict on a run; being the newest, it becomes the run's current verdict."""
    if not reason.strip():
        raise UsageError("overruling a verdict needs a reason (what the person saw)")
    previous = store.get_run(run_id).verdict
    evidence: dict[str, Any] = {}
    if previous is not None:
        evidence["overrules"] = {
            "id": previous.id,
            "source": previous.source.value,
            "success": previous.success,
        }
    return store.add_verdict(
        run_id,
        VerdictSource.PERSON,
        success,
        score=None if success is None else float(success),
        reasons=[reason],
        evidence=evidence,
    )


__all__ = ["Critic", "CriticVerdict", "load_screenshots", "overrule"]
