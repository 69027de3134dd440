"""How good is a judge? Compare its verdicts with the validators' on a fixed set of recorded runs.

The gold label of a run is its newest ``validator`` verdict (what ``cua.eval.suite.evaluate``
stores). The judge under test sees the run as a critic would without a validator: the
instruction, the steps and the screenshots. The report gives:

- **coverage**: the share of runs on which the judge committed (success or failure, not unknown);
- the **confusion matrix** of validator (rows: pass, fail) by judge (columns: success, failure,
  unknown);
- **accuracy** and **Cohen's kappa** on the committed runs, and accuracy over all runs with an
  unknown counted as wrong. Kappa corrects agreement for chance: a judge that always says
  "success" agrees with the validator as often as the validator passes, and its kappa is 0.

Nothing is written to the store: a judge's verdict added there would become the run's current
verdict and hide the validator's. :func:`record_runs` builds the fixed set from nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cua.critic.critic import load_screenshots
from cua.critic.heuristics import check_run
from cua.critic.judge import ModelJudge
from cua.errors import CuaError
from cua.eval.suite import EvalReport, evaluate, select_tasks
from cua.policies.registry import check_policy_name, policy_factory
from cua.store import Run, TrajectoryStore, VerdictSource
from cua.tasks import TaskSpec

Label = bool | None
#: The policies whose episodes make the fixed set: the baselines of cua.policies.registry that
#: bound the judge from both sides (``match``, the exploration floor, adds nothing here).
RECORD_POLICIES = ("oracle", "noop", "random")


def cohen_kappa(pairs: Iterable[tuple[Hashable, Hashable]]) -> float | None:
    """Return Cohen's kappa of two raters' labels, or None when it is undefined.

    kappa = (p_o - p_e) / (1 - p_e), with p_o the observed agreement and p_e the agreement
    expected by chance from each rater's label frequencies. Undefined (None) when there are no
    pairs or p_e = 1 (both raters always gave the same single label).
    """
    items = list(pairs)
    n = len(items)
    if n == 0:
        return None
    observed = sum(1 for a, b in items if a == b) / n
    first = Counter(a for a, _ in items)
    second = Counter(b for _, b in items)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class Confusion:
    """Counts of validator outcome (pass/fail) by judge verdict (success/failure/unknown)."""

    pass_success: int = 0
    pass_failure: int = 0
    pass_unknown: int = 0
    fail_success: int = 0
    fail_failure: int = 0
    fail_unknown: int = 0

    @classmethod
    def of(cls, pairs: Iterable[tuple[bool, Label]]) -> Confusion:
        """Count (validator passed, judge verdict) pairs."""
        counts: Counter[str] = Counter()
        for gold, guess in pairs:
            column = {True: "success", False: "failure", None: "unknown"}[guess]
            counts[f"{'pass' if gold else 'fail'}_{column}"] += 1
        return cls(**counts)

    @property
    def total(self) -> int:
        """Return the number of runs counted."""
        return sum(asdict(self).values())

    @property
    def committed(self) -> int:
        """Return the runs on which the judge said success or failure."""
        return self.total - self.pass_unknown - self.fail_unknown

    @property
    def agreed(self) -> int:
        """Return the runs on which the judge agreed with the validator."""
        return self.pass_success + self.fail_failure


@dataclass(frozen=True)
class RunJudgement:
    """One run of the evaluation set: what the validator and the judge said."""

    run_id: str
    task_id: str | None
    policy: str | None
    validator: bool
    judge: Label
    reason: str


@dataclass
class JudgeEvaluation:
    """The judge's figures against the validators (see the module docstring)."""

    judge: str
    rows: list[RunJudgement]
    skipped: int
    """Runs in the store without a validator verdict (not part of the set)."""
    errors: int = 0
    """Runs where the judge's backend failed (counted as unknown)."""
    wall_s: float = 0.0
    confusion: Confusion = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = Confusion.of((r.validator, r.judge) for r in self.rows)

    @property
    def coverage(self) -> float | None:
        """Return the share of runs the judge committed on (None for an empty set)."""
        c = self.confusion
        return c.committed / c.total if c.total else None

    @property
    def accuracy(self) -> float | None:
        """Return agreement on the committed runs (None when it never committed)."""
        c = self.confusion
        return c.agreed / c.committed if c.committed else None

    @property
    def accuracy_all(self) -> float | None:
        """Return agreement over all runs, an unknown counting as a disagreement."""
        c = self.confusion
        return c.agreed / c.total if c.total else None

    @property
    def kappa(self) -> float | None:
        """Return Cohen's kappa on the committed runs (None when undefined)."""
        return cohen_kappa((r.validator, r.judge) for r in self.rows if r.judge is not None)

    def to_json(self) -> dict[str, Any]:
        """Return the figures and every run's pair as JSON-ready data."""

        def rnd(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "judge": self.judge,
            "runs": self.confusion.total,
            "skipped_without_validator": self.skipped,
            "judge_errors": self.errors,
            "validator_pass_rate": rnd(
                (self.confusion.pass_success + self.confusion.pass_failure + self.confusion.pass_unknown)
                / self.confusion.total
                if self.confusion.total
                else None
            ),
            "coverage": rnd(self.coverage),
            "accuracy": rnd(self.accuracy),
            "accuracy_all": rnd(self.accuracy_all),
            "kappa": rnd(self.kappa),
            "confusion": asdict(self.confusion),
            "wall_s": round(self.wall_s, 2),
            "rows": [asdict(r) for r in self.rows],
        }

    def table(self) -> str:
        """Return the figures as text."""

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1%}"

        c = self.confusion
        kappa = "undefined" if self.kappa is None else f"{self.kappa:+.3f}"
        lines = [
            f"judge {self.judge}: {c.total} runs with a validator verdict ({self.skipped} without, skipped), "
            f"{self.wall_s:.1f} s",
            f"coverage {pct(self.coverage)} ({c.committed}/{c.total} committed)   "
            f"accuracy {pct(self.accuracy)} on committed, {pct(self.accuracy_all)} over all   kappa {kappa}",
            "",
            f"{'validator/judge':18} {'success':>8} {'failure':>8} {'unknown':>8}",
            f"{'pass':18} {c.pass_success:8d} {c.pass_failure:8d} {c.pass_unknown:8d}",
            f"{'fail':18} {c.fail_success:8d} {c.fail_failure:8d} {c.fail_unknown:8d}",
        ]
        if self.errors:
            lines.append(f"{self.errors} runs: the judge's backend failed (counted as unknown)")
        return "\n".join(lines)


def _gold(store: TrajectoryStore, run: Run) -> bool | None:
    validator = [v for v in store.verdicts(run.id) if v.source == VerdictSource.VALIDATOR]
    return None if not validator or validator[-1].success is None else validator[-1].success


def evaluate_judge(
    store: TrajectoryStore,
    judge: ModelJudge | None,
    *,
    runs: Sequence[Run] | None = None,
    on_run: Callable[[RunJudgement], None] | None = None,
) -> JudgeEvaluation:
    """Judge every run that has a validator verdict; ``judge`` None means the heuristic judge.

    ``runs`` defaults to every finished run in the store, oldest first. Nothing is written.
    """
    t0 = time.monotonic()
    chosen = list(reversed(store.list_runs())) if runs is None else list(runs)
    rows: list[RunJudgement] = []
    skipped = errors = 0
    for run in chosen:
        gold = _gold(store, run)
        if gold is None:
            skipped += 1
            continue
        steps = store.steps(run.id)
        guess: Label
        if judge is None:
            report = check_run(run, steps)
            guess, _ = report.verdict()
            reason = "; ".join(report.reasons()) or "no red flags"
        else:
            try:
                result = judge.judge(run, steps, load_screenshots(store, run, steps))
            except CuaError as exc:
                errors += 1
                guess, reason = None, f"the judge's backend failed: {exc}"
            else:
                guess = result.answer.success
                reason = "; ".join(result.answer.reasons)[:300]
        row = RunJudgement(run.id, run.task_id, run.extra.get("policy"), gold, guess, reason)
        rows.append(row)
        if on_run is not None:
            on_run(row)
    name = "heuristic" if judge is None else judge.name
    return JudgeEvaluation(name, rows, skipped, errors, time.monotonic() - t0)


def record_tasks(count: int) -> list[TaskSpec]:
    """Return ``count`` fixed built-in tasks (one instance per family, no slow apps), apps interleaved."""
    by_app: dict[str, list[TaskSpec]] = {}
    for task in select_tasks("all", instances=1, include_slow=False):
        by_app.setdefault(task.app, []).append(task)
    queues = list(by_app.values())
    out: list[TaskSpec] = []
    while len(out) < count and any(queues):
        for queue in queues:
            if queue and len(out) < count:
                out.append(queue.pop(0))
    return out


def record_runs(
    store: TrajectoryStore,
    tasks: Sequence[TaskSpec],
    *,
    policies: Sequence[str] = RECORD_POLICIES,
    parallel: int = 2,
    settle_s: float = 0.5,
    seed: int = 0,
) -> list[EvalReport]:
    """Record one episode of each task with each policy (oracle, noop, random), validator-scored.

    UsageError (before any episode runs) for a name that is not a baseline.
    """
    for name in policies:
        check_policy_name(name, RECORD_POLICIES)
    return [
        evaluate(
            tasks,
            policy_factory(name),
            policy_name=name,
            suite="critic-eval",
            parallel=parallel,
            store=store,
            settle_s=settle_s,
            seed=seed,
        )
        for name in policies
    ]


__all__ = [
    "RECORD_POLICIES",
    "Confusion",
    "JudgeEvaluation",
    "RunJudgement",
    "cohen_kappa",
    "evaluate_judge",
    "record_runs",
    "record_tasks",
]
