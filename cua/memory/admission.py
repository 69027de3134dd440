"""Admission: which recorded runs become experience, and in what form.

Rules (each run's *current* verdict, the newest one, decides):

- a verified success becomes a positive item: a ``validator`` verdict with success True, or a
  ``person``'s confirmation. A judge's or a heuristic's success is not verification: skipped.
- a run whose current verdict says failure (any source) becomes a pitfall, with its reasons.
- oracle runs (``provenance.model`` starting ``oracle:`` or ``generation.backend == 'oracle'``)
  are skipped unless ``include_oracle``: they show the oracle's path, not what the agent can do.
- runs never judged, still running, or without a single parsed action are skipped.
- an admitted run whose verdict has since changed kind (a person overturned it) is detached
  from its item, and the item goes when no run supports it any more.

Duplicates merge in the index: same family and same action signature (each step's action type
with its target description or typed text; coordinates only when no target is known).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cua import actions as act
from cua.locators import Locator
from cua.memory.index import ExperienceIndex, Kind, NewItem, StepNote
from cua.models.embed import SCREEN_DIM, TextEncoder, screen_vector
from cua.store import (
    Run,
    RunNotFound,
    RunStatus,
    ScreenshotMissing,
    Step,
    TrajectoryStore,
    Verdict,
    VerdictSource,
)


@dataclass(frozen=True)
class AdmissionConfig:
    """How admission filters and bounds the memory."""

    include_oracle: bool = False
    """Admit oracle runs too (off: they are the task's own solution, not the agent's experience)."""
    capacity: int = 50_000
    """Most positive items kept; beyond it the eviction rule of ``cua.memory.index`` applies."""
    pitfall_capacity: int = 10_000
    """Most pitfall items kept."""


@dataclass
class AdmitReport:
    """What one admission pass did."""

    admitted: int = 0
    """Successful runs admitted (those merged into an existing item included)."""
    merged: int = 0
    pitfalls: int = 0
    already: int = 0
    detached: int = 0
    evicted: int = 0
    settled: int = 0
    """Episodes whose exposures were settled by a verdict that came after the run."""
    skipped: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON."""
        return {**{k: v for k, v in self.__dict__.items() if k != "skipped"}, "skipped": dict(self.skipped)}


def is_oracle(run: Run) -> bool:
    """Return whether an oracle (not a model) produced ``run``."""
    return run.provenance.model.startswith("oracle:") or run.provenance.generation.get("backend") == "oracle"


def classify(run: Run, *, include_oracle: bool = False) -> Kind | str:
    """Return ``'success'``, ``'pitfall'``, or the reason the run is skipped."""
    if run.status == RunStatus.RUNNING:
        return "still running"
    if not include_oracle and is_oracle(run):
        return "oracle run"
    verdict = run.verdict
    if verdict is None or verdict.success is None:
        return "no verdict"
    if verdict.success is False:
        return "pitfall"
    if verdict.source in (VerdictSource.VALIDATOR, VerdictSource.PERSON):
        return "success"
    return f"unverified success ({verdict.source.value})"


def verified_outcome(verdict: Verdict | None) -> bool | None:
    """Return what a verdict teaches a memory item's utility: True, False, or None (nothing yet).

    A success counts only from a validator or a person; a failure counts from any critic.
    """
    if verdict is None or verdict.success is None:
        return None
    if verdict.success and verdict.source not in (VerdictSource.VALIDATOR, VerdictSource.PERSON):
        return None  # an unverified success teaches nothing either way
    return verdict.success


def settle_outcomes(store: TrajectoryStore, index: ExperienceIndex) -> int:
    """Settle the utilities shown to recorded runs that have since got a decisive verdict.

    An episode's exposures are keyed by its run id (the agent tells the memory hook); a run
    judged after it ended (a person confirming a free run) counts here, once. Return how many
    episodes were settled.
    """
    settled = 0
    for episode in index.pending_episodes():
        try:
            run = store.get_run(episode)
        except RunNotFound:
            continue  # an episode of another store, or one that was never recorded
        outcome = verified_outcome(run.verdict)
        if outcome is not None and index.record_outcome(episode, outcome):
            settled += 1
    return settled


def family_of(run: Run) -> str:
    """Return the run's task family (``mousepad.save-as/2`` -> ``mousepad.save-as``), or ``free:<app>``."""
    return run.task_id.partition("/")[0] if run.task_id else f"free:{run.app}"


def describe_action(action: Mapping[str, Any], hit: Mapping[str, Any] | None = None) -> StepNote:
    """Render one recorded action compactly: what it did, and (for pointer actions) to what.

    The words are ``cua.actions.describe``'s; a click on a located target leaves out its point.
    """
    if action.get("type") == act.SEQUENCE:
        items = act.recorded_items(action)
        parts = [describe_action(a, hit if i == 0 else None).text() for i, a in enumerate(items)]
        return StepNote("; ".join(parts))
    target = Locator.from_json(dict(hit)).describe() if hit else None
    try:
        typed = act.from_json(dict(action))
    except act.ActionError:  # not an action this version reads: shown as stored
        kind = str(action.get("type", "?"))
        rest = ", ".join(f"{k}={v}" for k, v in action.items() if k != "type")
        return StepNote(f"{kind}({rest})" if rest else kind)
    if isinstance(typed, act.Click):
        return StepNote(act.describe(typed, point=target is None), target)
    if isinstance(typed, act.Drag):
        return StepNote(act.describe(typed), target or f"point ({typed.x}, {typed.y})")
    if isinstance(typed, act.Scroll):
        return StepNote(act.describe(typed), target)
    return StepNote(act.describe(typed))


def signature(notes: list[StepNote], actions: list[Mapping[str, Any]]) -> str:
    """Return the action-sequence key used to merge duplicates (coordinates count only without a target)."""
    parts = []
    for note, action in zip(notes, actions, strict=True):
        if note.target is not None:
            parts.append(f"{action.get('type')}|{note.action}|{note.target}")
        else:
            parts.append(f"{action.get('type')}|{note.action}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def build_item(store: TrajectoryStore, run: Run, kind: Kind, encoder: TextEncoder) -> NewItem | None:
    """Turn one run into an item (None when it has no parsed action)."""
    steps: list[Step] = [s for s in store.steps(run.id) if s.action is not None]
    if not steps:
        return None
    notes = [describe_action(s.action or {}, s.hit) for s in steps]
    screens = []
    for s in steps:
        try:
            screens.append(screen_vector(store.screenshot(s.screenshot)))
        except ScreenshotMissing:
            screens.append(np.zeros(SCREEN_DIM, np.float32))
    reasons = tuple(run.verdict.reasons) if run.verdict is not None and kind == "pitfall" else ()
    return NewItem(
        kind=kind,
        family=family_of(run),
        app=run.app,
        instruction=run.instruction,
        steps=tuple(notes),
        signature=signature(notes, [s.action or {} for s in steps]),
        text_vec=encoder.encode([run.instruction])[0],
        screen_vec=screens[0],
        step_vecs=np.stack(screens).astype(np.float32),
        run_id=run.id,
        task_id=run.task_id,
        split=str(run.extra.get("split", "train")),
        reasons=reasons,
    )


def admit(
    store: TrajectoryStore,
    index: ExperienceIndex,
    encoder: TextEncoder,
    config: AdmissionConfig | None = None,
    *,
    runs: Iterable[Run] | None = None,
) -> AdmitReport:
    """Admit every qualifying run of ``store`` into ``index``, then apply the capacity bounds.

    ``runs``: only these runs of ``store`` (an exploration admitting each attempt as it ends);
    runs a person took out of memory stay out either way.
    """
    cfg = config or AdmissionConfig()
    report = AdmitReport()
    index.bind_encoder(encoder)
    admitted = index.run_ids()
    excluded = index.excluded_runs()
    new: list[NewItem] = []
    for run in store.list_runs() if runs is None else runs:
        if run.id in excluded:
            report.skipped["taken out of memory by a person"] += 1
            continue
        verdict = classify(run, include_oracle=cfg.include_oracle)
        if run.id in admitted:
            item = index.items([admitted[run.id]])
            if item and item[0].kind != verdict and index.detach_run(run.id):
                report.detached += 1
            else:
                report.already += 1
                continue
        if verdict not in ("success", "pitfall"):
            report.skipped[verdict] += 1
            continue
        kind: Kind = "success" if verdict == "success" else "pitfall"
        item_new = build_item(store, run, kind, encoder)
        if item_new is None:
            report.skipped["no parsed action"] += 1
            continue
        new.append(item_new)
    added = index.add(new, encoder=encoder.name)
    report.already += added.already
    report.merged = added.merged
    report.pitfalls = sum(1 for it in new if it.kind == "pitfall")
    report.admitted = added.added + added.merged - report.pitfalls
    report.evicted = len(index.evict(cfg.capacity, "success")) + len(
        index.evict(cfg.pitfall_capacity, "pitfall")
    )
    report.settled = settle_outcomes(store, index)
    return report


def admit_run(
    store: TrajectoryStore, index: ExperienceIndex, encoder: TextEncoder, run_id: str, *,
    include_oracle: bool = False,
) -> str:  # fmt: skip
    """Admit one run by a person's request (lifting an earlier exclusion); return what happened.

    The run must qualify as :func:`admit` would take it (a verified success or a failure): a
    person asking does not make an unverified success evidence. UsageError-free: the returned
    sentence says why a run was not admitted.
    """
    run = store.get_run(run_id)
    verdict = classify(run, include_oracle=include_oracle)
    if verdict not in ("success", "pitfall"):
        return f"not admitted: {verdict}"
    index.bind_encoder(encoder)
    lifted = index.include_run(run.id)
    existing = index.item_of_run(run.id)
    if existing is not None:
        item = index.items([existing])
        if item and item[0].kind == verdict:
            return f"already in memory as {verdict} item {existing}"
        index.detach_run(run.id)  # its verdict changed since: re-admit as what it is now
    kind: Kind = "success" if verdict == "success" else "pitfall"
    new = build_item(store, run, kind, encoder)
    if new is None:
        return "not admitted: no parsed action"
    added = index.add([new], encoder=encoder.name)
    item_id = index.item_of_run(run.id)
    how = "merged into" if added.merged else "admitted as"
    return f"{how} {kind} item {item_id}" + (" (it had been taken out of memory)" if lifted else "")
