"""Benchmark experience memory on recorded runs: retrieval quality, latency at scale, replay.

Prints one JSON object on stdout (progress on stderr). What it does, top to bottom:

1. Record, through the agent loop in real sandboxes (``evaluate``), for every built-in family:
   ``--stored`` instances solved by the oracle (verified successes: the only ones that can be
   produced here without a real model), one near miss of instance 0 played by the oracle of
   the family's first near miss (wrong value, skipped step or stopped before a step: a real
   failure the validator rejects, kept as a pitfall with the validator's reasons), and the
   query instance (the next instance, whose parameter values were never stored) run by the
   noop policy only for its first screenshot. Recordings go to ``<dir>/source`` and
   ``<dir>/queries`` and are reused by later runs with the same ``--dir``.
2. Admit ``<dir>/source`` into a fresh index per text encoder (``include_oracle``: the stored
   runs are oracle runs) and ask, for each family, with the query instance's instruction in
   other words (the first of its task file's ``paraphrases``; a family without one is asked
   with its instruction and listed in ``queries_not_paraphrased``), its application and its
   real first screenshot: is a success of the same family in the top 3 (and first)? Pitfalls
   returned as positives are counted (must be 0).
3. Latency: random unit vectors are added as filler until ``--items`` are stored, then
   start-of-run retrievals (a new instruction and screenshot -> ranked, rendered text; the text
   embedding included) and per-step retrievals (screenshot + last action -> re-ranked) are
   timed through ``ExperienceMemory.retrieve``, p50/p95 in milliseconds.
4. ``replay_success`` from ``scripts/bench_replay.py`` (``--no-replay`` skips it).

The top-level figures are the default encoder's (``static``); ``encoders`` has both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from cua.eval.suite import Episode, evaluate
from cua.memory import (
    AdmissionConfig,
    ExperienceIndex,
    ExperienceMemory,
    MemoryConfig,
    NewItem,
    StepNote,
    admit,
    make_encoder,
)
from cua.models.embed import SCREEN_DIM, TEXT_DIM, screen_vector, unit_rows
from cua.policies.baselines import NoopPolicy
from cua.policies.oracle import OraclePolicy
from cua.policy import HistoryItem
from cua.store import TrajectoryStore
from cua.tasks import TaskFamily, TaskSpec, builtin_families
from cua.tasks.spec import near_miss_task
from sandbox.base import Observation

#: Bump when what ``record`` records changes: older recordings in a ``--dir`` are then redone.
RECIPE = 2


def query_text(task: TaskSpec) -> str:
    """Return how the query asks for ``task``: its task file's first paraphrase (else, unchanged)."""
    return task.paraphrases[0] if task.paraphrases else task.instruction


def near_miss(family: TaskFamily, task: TaskSpec) -> TaskSpec | None:
    """Return the task whose oracle plays ``task``'s first near miss (None when it has none)."""
    if task.oracle is None:
        return None
    for miss in task.near_misses:
        if miss.before is not None:
            ids = [s.id for s in task.oracle]
            if miss.before in ids:
                return replace(task, oracle=task.oracle[: ids.index(miss.before)])
        else:
            return near_miss_task(family, task, miss)
    return None


def as_train(task: TaskSpec) -> TaskSpec:
    """Return ``task`` recorded as training data: memory never retrieves runs of ``split: eval``.

    The benchmark measures retrieval, not an evaluation, so the held-out families take part.
    """
    return replace(task, split="train")


def record(families: list[TaskFamily], work: Path, stored: int, parallel: int) -> dict[str, Any]:
    """Record the source and query runs into ``work`` (once per folder); return what was recorded."""
    marker = work / "recorded.json"
    ids = sorted(f.id for f in families)
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("families") == ids and done.get("stored") == stored and done.get("recipe") == RECIPE:
            print(f"reusing the recordings in {work}", file=sys.stderr)
            return dict(done)

    def progress(ep: Episode) -> None:
        print(f"  {ep.task}: {'pass' if ep.passed else 'fail'} in {ep.steps} steps", file=sys.stderr)

    def oracle(task: TaskSpec, sb: Any, seed: int) -> OraclePolicy:
        return OraclePolicy(task, sb)

    misses = {f.id: near_miss(f, f.instance(0)) for f in families}
    t0 = time.monotonic()
    with TrajectoryStore(work / "source") as source, TrajectoryStore(work / "queries") as queries:
        print("recording oracle successes", file=sys.stderr)
        common: dict[str, Any] = {"suite": "bench-memory", "parallel": parallel, "on_episode": progress}
        solved = [as_train(f.instance(i)) for f in families for i in range(stored)]
        wins = evaluate(solved, oracle, policy_name="oracle", store=source, **common)
        print("recording near misses (pitfalls)", file=sys.stderr)
        wrong = {f.id: misses[f.id] for f in families if misses[f.id] is not None}

        def near(task: TaskSpec, sb: Any, seed: int) -> OraclePolicy:
            miss = wrong[task.family]
            assert miss is not None
            return OraclePolicy(miss, sb)

        failed = [as_train(f.instance(0)) for f in families if f.id in wrong]
        pits = evaluate(failed, near, policy_name="oracle", store=source, **common)
        print("recording query screens", file=sys.stderr)
        asked = [f.instance(stored) for f in families]
        asks = evaluate(asked, lambda t, sb, s: NoopPolicy(), policy_name="noop", store=queries, **common)
    done = {
        "recipe": RECIPE,
        "families": ids,
        "stored": stored,
        "successes_recorded": sum(e.passed for e in wins.episodes),
        "success_runs_failed": [e.task for e in wins.episodes if not e.passed],
        "pitfalls_recorded": sum(not e.passed for e in pits.episodes),
        "near_miss_runs_that_passed": [e.task for e in pits.episodes if e.passed],
        "queries": {e.task: e.run_id for e in asks.episodes if e.run_id},
        "record_s": round(time.monotonic() - t0, 1),
    }
    marker.write_text(json.dumps(done))
    return done


def percentile(values: list[float], pct: float) -> float:
    return round(float(np.percentile(values, pct)), 2) if values else float("nan")


def measure(
    encoder_name: str,
    families: list[TaskFamily],
    work: Path,
    recorded: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Admit, query, fill to ``args.items`` and time retrievals with one text encoder."""
    encoder = make_encoder(encoder_name)
    by_id = {f.id: f for f in families}
    index_path = work / f"index-{encoder_name}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index_path}{suffix}").unlink(missing_ok=True)
    index = ExperienceIndex(index_path)
    with TrajectoryStore(work / "source") as source:
        report = admit(source, index, encoder, AdmissionConfig(include_oracle=True))
    queries: list[tuple[TaskSpec, str, Observation]] = []
    with TrajectoryStore(work / "queries") as store:
        for task_id, run_id in recorded["queries"].items():
            family = by_id[task_id.partition("/")[0]]
            task = family.instance(int(task_id.partition("/")[2]))
            shot = store.screenshot(store.steps(run_id)[0].screenshot)
            queries.append((task, query_text(task), Observation(shot, (0, 0), None, True)))

    config = MemoryConfig(top_k=3, pitfalls=1)
    hits = hits_any_app = top1 = pit_as_pos = 0
    misses: list[dict[str, Any]] = []
    for task, text, obs in queries:
        mem = ExperienceMemory(index, encoder, app=task.app, task_id=task.id, config=config)
        screen = screen_vector(obs.screenshot)
        for with_app in (True, False):
            ranked = mem.search(text, screen, app=task.app if with_app else None)
            top = index.items([h.item_id for h in ranked.positives[:3]])
            pit_as_pos += sum(it.kind != "success" for it in top)
            hit = any(it.family == task.family for it in top)
            hits += hit and with_app
            hits_any_app += hit and not with_app
            top1 += with_app and bool(top) and top[0].family == task.family
            if with_app and not hit:
                misses.append({"query": task.id, "text": text, "top3": [it.family for it in top]})
    stored_items = index.count("success")
    pitfall_items = index.count("pitfall")

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    apps = sorted({f.app for f in families})
    filler = max(0, args.items - index.count())
    text_vecs = unit_rows(rng.standard_normal((filler, TEXT_DIM)).astype(np.float32))
    screens = unit_rows(rng.standard_normal((len(apps), SCREEN_DIM)).astype(np.float32))
    for start in range(0, filler, 20_000):
        index.add(
            NewItem("success", f"filler.{i % 997}", apps[i % len(apps)], f"filler task {i}",
                    (StepNote("filler"),), f"f{i}", text_vecs[i], screens[i % len(apps)],
                    screens[i % len(apps)][None, :], f"filler-{i}")
            for i in range(start, min(filler, start + 20_000))
        )  # fmt: skip
    fill_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.arrays()
    load_s = time.perf_counter() - t0

    start_ms: list[float] = []
    step_ms: list[float] = []
    for q in range(args.queries):
        task, text, obs = queries[q % len(queries)]
        mem = ExperienceMemory(index, encoder, app=task.app, task_id=task.id, config=config)
        instruction = f"{text} (variant {q})"  # a new text every time: nothing comes from a cache
        t = time.perf_counter()
        mem.retrieve(instruction, obs, [])
        start_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        mem.retrieve(instruction, obs, [HistoryItem("click(640, 400)")])
        step_ms.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for q in range(args.queries):
        encoder.encode([f"fresh sentence number {q} for timing the text embedding alone"])
    embed_ms = (time.perf_counter() - t) * 1000 / max(args.queries, 1)
    result = {
        "encoder": encoder.name,
        "top3_family_hit": round(hits / len(queries), 4),
        "top3_family_hit_without_app_filter": round(hits_any_app / len(queries), 4),
        "top1_family_hit": round(top1 / len(queries), 4),
        "pitfalls_returned_as_positives": pit_as_pos,
        "misses": misses,
        "admitted": report.to_json(),
        "success_items": stored_items,
        "pitfall_items": pitfall_items,
        "retrieval_start_of_run_p50_ms": percentile(start_ms, 50),
        "retrieval_start_of_run_p95_ms": percentile(start_ms, 95),
        "retrieval_per_step_p50_ms": percentile(step_ms, 50),
        "retrieval_per_step_p95_ms": percentile(step_ms, 95),
        "text_embedding_alone_ms_mean": round(embed_ms, 3),
        "items_stored": index.count(),
        "fill_s": round(fill_s, 2),
        "load_arrays_s": round(load_s, 2),
    }
    index.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="Items stored in all (filler included).")
    parser.add_argument("--queries", type=int, default=200, help="Timed retrievals of each kind.")
    parser.add_argument("--stored", type=int, default=2, help="Instances recorded per family.")
    parser.add_argument("--parallel", type=int, default=2, help="Sandboxes recording at once.")
    parser.add_argument("--family", action="append", help="Only these families (repeatable).")
    parser.add_argument(
        "--encoder",
        action="append",
        choices=["static", "minilm"],
        help="Text encoders to measure (default: both; the first is reported on top).",
    )
    parser.add_argument("--dir", type=Path, default=None, help="Work folder; recordings in it are reused.")
    parser.add_argument("--no-replay", action="store_true", help="Skip replay_success (bench_replay.py).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    families = [f for f in builtin_families() if f.instances > args.stored]
    if args.family:
        families = [f for f in families if f.id in args.family]
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    recorded = record(families, work, args.stored, args.parallel)
    encoders = args.encoder or ["static", "minilm"]
    results = {name: measure(name, families, work, recorded, args) for name in encoders}
    main_result = results[encoders[0]]
    counts: dict[str, int] = {}
    for f in families:
        counts[f.app] = counts.get(f.app, 0) + 1
    asked = [f.instance(args.stored) for f in families]
    unchanged = [t.family for t in asked if query_text(t) == t.instruction]
    out: dict[str, Any] = {
        "top3_family_hit": main_result["top3_family_hit"],
        "top1_family_hit": main_result["top1_family_hit"],
        "pitfalls_returned_as_positives": main_result["pitfalls_returned_as_positives"],
        "retrieval_p50_ms": main_result["retrieval_start_of_run_p50_ms"],
        "retrieval_start_of_run_p50_ms": main_result["retrieval_start_of_run_p50_ms"],
        "retrieval_per_step_p50_ms": main_result["retrieval_per_step_p50_ms"],
        "items_stored": main_result["items_stored"],
        "families": len(families),
        "families_per_app": counts,
        "queries": len(recorded["queries"]),
        "queries_not_paraphrased": unchanged,
        "queries_with_written_paraphrases": sum(bool(t.paraphrases) for t in asked),
        "recorded": {k: v for k, v in recorded.items() if k not in ("families", "queries", "recipe")},
        "encoders": results,
        "cpu_count": os.cpu_count(),
        "notes": [
            "stored experience: oracle runs recorded through the agent loop in real sandboxes (screens,"
            " locators, validator verdicts); pitfalls: near-miss runs the validators rejected; runs of"
            " held-out (split: eval) families are recorded as training runs, since memory never"
            " retrieves eval-split runs and this measures retrieval, not an evaluation",
            "queries: each family's next instance (parameter values never stored), asked with the"
            " paraphrase its task file gives, with its real first"
            " screenshot; the search is limited to the query's application"
            " (top3_family_hit_without_app_filter searches every row)",
            "filler rows are random unit vectors spread over the applications (latency only)",
            "start-of-run: instruction + screenshot -> ranked, rendered text, text embedding included;"
            " per-step: screenshot + last action -> re-ranked shortlist",
        ],
    }
    if not args.no_replay:
        # Replay is measured by its own script (real sandboxes); its figure joins this report.
        done = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("bench_replay.py")), "--slow"],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            replay = json.loads(done.stdout)
            out["replay_success"] = replay["replay_success"]
            out["replay"] = replay
        else:
            out["replay_error"] = done.stderr[-500:]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
