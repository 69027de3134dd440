"""One learning round: rows from verified experience, a trained candidate, a paired gate, the registry.

:func:`learning_round` is what ``cua train`` and ``cua explore --train-every N`` run:

1. **Split.** The synthesized tasks (``explore.sqlite``) are split by their hash: about a quarter
   are *held out* and never train anything; the first :attr:`RoundSettings.regression` of them
   (kept in ``learn/regression.json`` the first time, then fixed) are the regression set, the
   others the gate's instances. Built-in tasks take no part: they only measure
   (``scripts/bench_learn.py``).
2. **Rows.** The training tasks' demonstrations and verified attempts are re-enacted into rows
   (``cua.learn.dataset``). Every row ever built is kept in ``learn/rows.jsonl``; a round trains
   on this round's rows plus a *replay sample* of earlier ones across all task kinds, weighted
   toward kinds whose gate success dropped in the last round (no forgetting).
3. **Train.** The candidate starts from the current model (the registry's promoted ``bundled``
   model, else the shipped checkpoint) and is trained by ``cua.learn.train``.
4. **Gate.** Candidate and current policy run the *same* held-out instances with the same seeds
   (``cua.learn.gate``: a one-sided exact sign test on the discordant pairs, curtailed so it may
   stop early, at the stated α), then the regression set, where the candidate must not fail more
   often than the parent. Every decision, its numbers and the lineage go into the model registry.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cua.agent import Agent, AgentConfig
from cua.episode import run_episode
from cua.errors import SandboxError, UsageError
from cua.explore.db import ExploreDB
from cua.learn.dataset import Row, SynthTask, balance, build_rows, dedup, save_rows, synthesized_tasks
from cua.learn.gate import GateConfig, SequentialSignTest, decide
from cua.learn.registry import ModelRegistry
from cua.learn.train import TrainConfig, train_bundled
from cua.policies.bundled import BundledPolicy, default_checkpoint
from cua.policy import Policy
from cua.store import RunSource, TrajectoryStore
from cua.tasks.errors import TaskError
from sandbox.base import Sandbox

log = logging.getLogger(__name__)

KIND = "bundled"


@dataclass(frozen=True)
class RoundSettings:
    """What one learning round does."""

    train: TrainConfig = field(default_factory=TrainConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    holdout: int = 4
    """One synthesized task in this many (by hash) is held out from training."""
    regression: int = 12
    """Held-out tasks in the fixed regression set."""
    replay_rows: int = 4000
    """Most earlier rows mixed into a round."""
    max_steps: int = 12
    """Step budget of each gate episode."""
    seed: int = 0


@dataclass
class RoundReport:
    """What a round did, for the terminal, the explore report and the registry."""

    model_id: str | None = None
    parent: str = ""
    promoted: bool = False
    decision: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    replayed: int = 0
    train: dict[str, Any] = field(default_factory=dict)
    gate_tasks: int = 0
    regression_tasks: int = 0
    seconds: float = 0.0
    build: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self)


def listed_tasks(db: ExploreDB, app: str | None = None) -> list[tuple[str, str]]:
    """Return (task file, change kind) of every proven task the exploration database admitted (of ``app``).

    A template no attempt has passed yet is left out: it has nothing verified to train on, and a
    gate instance that may be impossible would only add ties.
    """
    return [(row.path, row.kind) for row in db.tasks(app) if row.proven]


def is_held_out(task_hash: str, holdout: int) -> bool:
    """Return whether a synthesized task is held out of training (a fixed function of its hash)."""
    return int(task_hash[:8], 16) % holdout == 0


def current_checkpoint(data_dir: Path) -> tuple[Path, str]:
    """Return the bundled policy's checkpoint and name: the registry's current one, else the shipped one."""
    path = data_dir / "models" / "registry.sqlite"
    if path.is_file():
        with ModelRegistry(data_dir) as reg:
            entry = reg.current(KIND)
            if entry is not None and Path(entry.path).is_dir():
                return Path(entry.path), entry.id
    return default_checkpoint(), "shipped"


def regression_set(data_dir: Path, held: Sequence[SynthTask], size: int) -> list[SynthTask]:
    """Return the fixed regression set: chosen once (``learn/regression.json``), then kept.

    It takes at most half of the held-out tasks, so the gate keeps the rest: a regression set
    that took them all would leave the paired test no instance, and no candidate could ever win.
    """
    path = data_dir / "learn" / "regression.json"
    by_hash = {st.hash: st for st in held}
    if path.is_file():
        chosen = [h for h in json.loads(path.read_text()) if h in by_hash]
        if chosen:
            return [by_hash[h] for h in chosen]
    picked = sorted(by_hash)[: min(size, len(by_hash) // 2)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(picked, indent=1) + "\n")
    return [by_hash[h] for h in picked]


def replay_mix(
    new: Sequence[Row], earlier: Sequence[Row], drops: dict[str, float], cap: int, rng: random.Random
) -> list[Row]:
    """Return earlier rows to mix in: every kind represented, kinds that lost success weighted up."""
    have = {r.key() for r in new}
    pool = [r for r in earlier if r.key() not in have]
    if not pool:
        return []
    weights = [1.0 + 4.0 * max(0.0, drops.get(r.kind, 0.0)) for r in pool]
    if len(pool) <= cap:
        return pool
    kinds = sorted({r.kind for r in pool})
    out = [rng.choice([r for r in pool if r.kind == k]) for k in kinds]  # every kind at least once
    out += rng.choices(pool, weights, k=cap - len(out))
    return dedup(out)


def _load_all(path: Path) -> list[Row]:
    from cua.learn.dataset import load_rows

    return load_rows(path) if (path / "rows.jsonl").is_file() else []


def play(
    policy_for: Callable[[], Policy], tasks: Sequence[SynthTask], sandbox: Sandbox,
    store: TrajectoryStore | None, seed: int, max_steps: int, label: str,
) -> list[bool]:  # fmt: skip
    """Return, per task, whether the policy's episode passed the task's validator (same seed per task)."""
    out = []
    for i, st in enumerate(tasks):
        agent = Agent(
            policy_for(),
            sandbox,
            store=store,
            config=AgentConfig(max_steps=min(max_steps, st.task.max_steps)),
        )
        try:
            outcome = run_episode(agent, task=st.task, source=RunSource.EVAL, seed=seed + i,
                                  extra={"gate": label})  # fmt: skip
            out.append(bool(outcome.verdict is not None and outcome.verdict.passed))
        except (TaskError, SandboxError) as exc:
            log.warning("gate: %s: %s", st.task.id, exc)
            out.append(False)
    return out


def learning_round(
    data_dir: Path,
    make_sandbox: Callable[[], Sandbox],
    settings: RoundSettings = RoundSettings(),
    *,
    progress: Callable[[str], None] | None = None,
) -> RoundReport:
    """Run one round (see the module docstring); return what it did. UsageError with nothing to learn from."""
    t0 = time.monotonic()
    say = progress or (lambda _: None)
    db_path = data_dir / "explore.sqlite"
    if not db_path.is_file():
        raise UsageError(f"{data_dir}: nothing explored yet; run `cua explore --app APP` first")
    db = ExploreDB(db_path)
    store = TrajectoryStore(data_dir)
    sandbox = make_sandbox()
    report = RoundReport()
    try:
        tasks, _ = synthesized_tasks(listed_tasks(db))
        held = [st for st in tasks if is_held_out(st.hash, settings.holdout)]
        if not held and len(tasks) >= 2:  # a few tasks may all fall on the training side
            held = [min(tasks, key=lambda st: st.hash)]
        train_hashes = {st.hash for st in tasks} - {st.hash for st in held}
        regression = regression_set(data_dir, held, settings.regression)
        gate_tasks = [st for st in held if st not in regression][: settings.gate.max_instances]
        report.gate_tasks, report.regression_tasks = len(gate_tasks), len(regression)
        say(f"{len(tasks)} synthesized tasks: {len(train_hashes)} train, {len(gate_tasks)} gate, "
            f"{len(regression)} regression")  # fmt: skip
        rows, build = build_rows(lambda: sandbox, listed_tasks(db), store, only=train_hashes, progress=say)
        report.build = build.as_dict()
        learn_dir = data_dir / "learn"
        earlier = _load_all(learn_dir / "all")
        parent_path, parent_id = current_checkpoint(data_dir)
        report.parent = parent_id
        drops = _kind_drops(data_dir)
        rng = random.Random(settings.seed)
        mixed = replay_mix(rows, earlier, drops, settings.replay_rows, rng)
        report.rows, report.replayed = len(rows), len(mixed)
        save_rows(dedup([*earlier, *rows]), learn_dir / "all")
        training = balance(dedup([*rows, *mixed]), rng)
        with ModelRegistry(data_dir) as reg:
            out = reg.new_checkpoint_dir()
        say(f"training on {len(training)} rows ({len(mixed)} replayed) from {parent_id}")
        result = train_bundled(training, out, settings.train, parent=parent_path)
        report.train = result.as_dict()
        candidate, parent = BundledPolicy(out), BundledPolicy(parent_path)
        test = SequentialSignTest(settings.gate)
        pairs: list[tuple[bool, bool]] = []
        for i, st in enumerate(gate_tasks):
            if test.state() != "continue":  # decided, possibly before any instance (too few to reach alpha)
                break
            c = play(
                lambda: candidate, [st], sandbox, store, settings.seed + i, settings.max_steps, "candidate"
            )[0]
            p = play(lambda: parent, [st], sandbox, store, settings.seed + i, settings.max_steps, "parent")[0]
            pairs.append((c, p))
            test.add(c, p)
            say(f"gate {i + 1}/{len(gate_tasks)}: candidate {_word(c)}, parent {_word(p)}")
        reg_c = play(lambda: candidate, regression, sandbox, store, 10_000, settings.max_steps, "candidate")
        reg_p = play(lambda: parent, regression, sandbox, store, 10_000, settings.max_steps, "parent")
        decision = decide(pairs, list(zip(reg_c, reg_p, strict=True)), settings.gate)
        report.decision = decision.as_dict()
        kinds = _kind_success(gate_tasks[: len(pairs)], [c for c, _ in pairs])
        with ModelRegistry(data_dir) as reg:
            entry = reg.register(
                KIND, out, parent=None if parent_id == "shipped" else parent_id,
                dataset={k: v for k, v in result.dataset.items() if k != "tasks"},
                config=asdict(settings.train),
                metrics={"train": result.as_dict(), "gate": decision.as_dict(), "gate_by_kind": kinds},
                note=f"round from {parent_id}",
            )  # fmt: skip
            reg.record_decision(entry.id, {**decision.as_dict(), "source": "gate"})
            report.model_id, report.promoted = entry.id, decision.promoted
        say(decision.reason)
    finally:
        sandbox.close()
        store.close()
        db.close()
    report.seconds = time.monotonic() - t0
    return report


def _word(ok: bool) -> str:
    return "pass" if ok else "fail"


def _kind_success(tasks: Sequence[SynthTask], ok: Sequence[bool]) -> dict[str, float]:
    seen: Counter[str] = Counter()
    won: Counter[str] = Counter()
    for st, k in zip(tasks, ok, strict=False):
        seen[st.kind] += 1
        won[st.kind] += k
    return {k: won[k] / seen[k] for k in seen}


def _kind_drops(data_dir: Path) -> dict[str, float]:
    """Return, per task kind, how much gate success fell between the last two registered models."""
    if not (data_dir / "models" / "registry.sqlite").is_file():
        return {}
    with ModelRegistry(data_dir) as reg:
        entries = [e for e in reg.list() if e.kind == KIND]
    if len(entries) < 2:
        return {}
    last, before = entries[-1].metrics.get("gate_by_kind", {}), entries[-2].metrics.get("gate_by_kind", {})
    return {k: before[k] - last.get(k, 0.0) for k in before}


__all__ = [
    "RoundReport",
    "RoundSettings",
    "current_checkpoint",
    "is_held_out",
    "learning_round",
    "listed_tasks",
    "play",
    "regression_set",
    "replay_mix",
]
