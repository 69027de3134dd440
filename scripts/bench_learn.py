"""Benchmark of the bundled policy on the built-in suite, which it never trained on, beside the baselines.

Prints one JSON object on stdout (progress on stderr). The bundled policy learns only from tasks
exploration synthesized (``cua.learn``), so every built-in task is a test task. Figures, each
with a 95 % Wilson interval, for ``bundled``, ``match`` and ``random`` on the same tasks:

- ``builtin_success`` and ``builtin_success_by_app``;
- ``single_step_success``: tasks whose oracle is one action;
- ``eval_split_success``: families marked ``split: eval``;
- ``ceiling_misses``: per family the bundled policy fails, the oracle's actions its action
  space cannot produce (drag, scroll, ...), i.e. what bounds it by design;
- ``step_latency_ms`` / ``step_latency_p95_ms``: the bundled policy's step (reading the screen
  plus the network), overall and per app;
- ``memory_gain`` (with ``--memory-from DIR``): the bundled policy again on the same tasks with
  an experience memory built only from that exploration data directory's verified runs of
  synthesized tasks, through the memory hand-over (``cua.policies.recall``: a remembered run of
  the same wording is replayed with the new values); success with memory minus without, the
  paired wins/losses and the exact sign test's p;
- ``memory_gain_online``: the bundled policy with the hand-over and a memory that starts empty
  and admits the policy's own verified attempts as it goes: instance k of every family runs
  after instances 0..k-1 (``split: eval`` families are never retrieved, by the memory's rule);
  the memory lives in a temporary index and is never used for training;
- ``wall_s`` of the whole benchmark.

``--quick`` (for CI) runs one instance per family without LibreOffice and Chromium.

``--iterations N`` measures the learning loop instead (``iterations`` in the JSON): in a fresh
data directory, N rounds of explore (``cua explore``, the same ``--episodes`` per app each round,
a new seed each round) then ``cua train`` (rows, a candidate, the gate, the registry); before
the first round (round 0: the shipped policy) and after each round, the policy in use (the
registry's current model, else the shipped one) runs the built-in tasks of ``--suite``. Per
round: the success rate with its Wilson interval and the gate's decision; then the exact sign
test (``cua.learn.gate``) of the last round against round 0 on the same tasks, and a plot
(``--plot``, PNG) of success per round.

    python scripts/bench_learn.py [--checkpoint DIR] [--parallel 2] [--quick] [--memory-from DIR]
    python scripts/bench_learn.py --iterations 3 --apps galculator --episodes 6 --suite galculator
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cua.eval.suite import EvalReport, evaluate, select_tasks
from cua.learn.gate import sign_test_p_value
from cua.policies.recall import RecallPolicy
from cua.policies.registry import PolicyFactory, policy_factory
from cua.store import TrajectoryStore
from cua.tasks import TaskSpec

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("bundled", "match", "random")
PRODUCIBLE = frozenset({"click", "type", "key", "wait_for"})


def wilson(successes: int, n: int, z: float = 1.96) -> dict[str, Any]:
    """Return the rate and its Wilson score interval."""
    if n == 0:
        return {"rate": None, "n": 0, "ci95": None}
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return {"rate": round(p, 4), "n": n, "successes": successes,
            "ci95": [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]}  # fmt: skip


def rate_of(report: EvalReport, keep: set[str] | None = None) -> dict[str, Any]:
    """Return the Wilson rate over the report's episodes (of the tasks in ``keep``)."""
    eps = [e for e in report.episodes if keep is None or e.task in keep]
    return wilson(sum(e.passed for e in eps), len(eps))


def single_step(task: TaskSpec) -> bool:
    """Return whether the task's oracle is one action."""
    return task.oracle is not None and sum(1 for s in task.oracle if s.is_action) == 1


def ceiling(task: TaskSpec) -> list[str]:
    """Return the kinds of oracle step the bundled policy cannot produce."""
    return sorted({s.kind for s in task.oracle or () if s.kind not in PRODUCIBLE})


def latencies(store: TrajectoryStore, report: EvalReport) -> tuple[list[float], dict[str, list[float]]]:
    """Return the bundled policy's step latencies (reading the screen + the network), all and per app."""
    every: list[float] = []
    by_app: dict[str, list[float]] = defaultdict(list)
    for ep in report.episodes:
        if ep.run_id is None:
            continue
        for step in store.steps(ep.run_id):
            t = step.timings
            if "policy" in t:
                ms = float(t["policy"])
                every.append(ms)
                by_app[ep.app].append(ms)
    return every, by_app


def pct(values: list[float], q: float) -> float | None:
    """Return the q-quantile (0..1) of ``values``, or None."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def paired(on: EvalReport, off: EvalReport, recalls: dict[str, RecallPolicy]) -> dict[str, Any]:
    """Return success with memory, without, the gain, the paired sign test and the hand-overs."""
    base = {e.task: e.passed for e in off.episodes}
    eps = [e for e in on.episodes if e.task in base]
    wins = sum(e.passed and not base[e.task] for e in eps)
    losses = sum(base[e.task] and not e.passed for e in eps)
    with_memory, without = rate_of(on, {e.task for e in eps}), rate_of(off, {e.task for e in eps})
    replayed = [e for e in eps if recalls.get(e.task) is not None and recalls[e.task].chosen is not None]
    return {
        "gain": round((with_memory["rate"] or 0.0) - (without["rate"] or 0.0), 4),
        "with_memory": with_memory,
        "without": without,
        "wins": wins,
        "losses": losses,
        "sign_test_p": round(sign_test_p_value(wins, losses), 4),
        "handed_over": len(replayed),
        "handed_over_passed": sum(e.passed for e in replayed),
        "families_gained": sorted({e.family for e in eps if e.passed and not base[e.task]}),
        "families_lost": sorted({e.family for e in eps if base[e.task] and not e.passed}),
    }


def with_recall(base: PolicyFactory, recalls: dict[str, RecallPolicy]) -> PolicyFactory:
    """Wrap each episode's policy in the memory hand-over, keeping it by task id to read later."""

    def make(task: TaskSpec, sandbox: Any, seed: int) -> RecallPolicy:
        recalls[task.id] = RecallPolicy(base(task, sandbox, seed), sandbox)
        return recalls[task.id]

    return make


def memory_gain(tasks: list[TaskSpec], factory: PolicyFactory, off: EvalReport, explored: Path,
                args: argparse.Namespace, store: TrajectoryStore, tmp: Path) -> dict[str, Any]:  # fmt: skip
    """The bundled policy with a memory of ``explored``'s verified runs of synthesized tasks only."""
    from cua.explore.db import ExploreDB
    from cua.explore.rounds import listed_tasks
    from cua.learn.dataset import synthesized_tasks
    from cua.memory import ExperienceIndex, ExperienceMemory, StaticEncoder
    from cua.memory.admission import AdmissionConfig, admit

    db = ExploreDB(explored / "explore.sqlite")
    try:
        known = {st.hash for st in synthesized_tasks(listed_tasks(db))[0]}
    finally:
        db.close()
    encoder = StaticEncoder()
    recalls: dict[str, RecallPolicy] = {}
    with TrajectoryStore(explored) as source, ExperienceIndex(tmp / "explored-memory.sqlite") as index:
        runs = [r for r in source.list_runs() if r.task_hash is not None and r.task_hash in known]
        admitted = admit(source, index, encoder, AdmissionConfig(include_oracle=True), runs=runs)

        def hook(task: TaskSpec) -> ExperienceMemory:
            return ExperienceMemory(index, encoder, app=task.app, task_id=task.id, store=source)

        on = evaluate(tasks, with_recall(factory, recalls), policy_name="bundled+memory", suite="all",
                      parallel=args.parallel, store=store, memory=hook)  # fmt: skip
        out = paired(on, off, recalls)
        out["memory"] = {"from": str(explored), "runs": len(runs), "items": index.count(),
                         "admitted": admitted.admitted}  # fmt: skip
    return out


def memory_gain_online(
    tasks: list[TaskSpec], factory: PolicyFactory, off: EvalReport, args: argparse.Namespace,
    store: TrajectoryStore, tmp: Path,
) -> dict[str, Any]:  # fmt: skip
    """The bundled policy with a memory of its own verified attempts, admitted instance by instance."""
    from cua.memory import ExperienceIndex, ExperienceMemory, StaticEncoder
    from cua.memory.admission import admit

    encoder = StaticEncoder()
    recalls: dict[str, RecallPolicy] = {}
    rounds: dict[int, list[TaskSpec]] = defaultdict(list)
    for task in tasks:
        rounds[int(task.id.rsplit("/", 1)[1])].append(task)
    episodes = []
    with ExperienceIndex(tmp / "online-memory.sqlite") as index:

        def hook(task: TaskSpec) -> ExperienceMemory:
            return ExperienceMemory(index, encoder, app=task.app, task_id=task.id, store=store)

        for k in sorted(rounds):
            report = evaluate(rounds[k], with_recall(factory, recalls), policy_name="bundled+online-memory",
                              suite="all", parallel=args.parallel, store=store, memory=hook)  # fmt: skip
            episodes += report.episodes
            verified = [store.get_run(e.run_id) for e in report.episodes if e.passed and e.run_id]
            if verified:
                admit(store, index, encoder, runs=verified)
            print(f"online memory: instance {k}: {sum(e.passed for e in report.episodes)}/"
                  f"{len(report.episodes)} passed, {index.count()} items", file=sys.stderr)  # fmt: skip
        out = paired(EvalReport("all", "bundled+online-memory", episodes, 0.0, []), off, recalls)
        out["memory_items"] = index.count()
    return out


def run_cli(*args: str) -> dict[str, Any]:
    """Run ``python -m cua ARGS --json`` and return its JSON (progress goes to our stderr)."""
    done = subprocess.run([sys.executable, "-m", "cua", *args, "--json"], check=True,
                          stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    return dict(json.loads(done.stdout))


def iterations(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``args.iterations`` explore → train → gate rounds and measure the built-in suite after each."""
    from cua.explore.rounds import current_checkpoint
    from cua.learn.gate import sign_test_p_value

    tasks = select_tasks(args.suite, instances=args.instances, include_slow=False)
    data = Path(tempfile.mkdtemp(prefix="cua-iterations-")) if args.keep is None else args.keep
    rounds: list[dict[str, Any]] = []
    outcomes: list[dict[str, bool]] = []

    def measure(checkpoint: Path) -> EvalReport:
        with tempfile.TemporaryDirectory() as tmp, TrajectoryStore(Path(tmp)) as store:
            report = evaluate(tasks, policy_factory("bundled", bundled=checkpoint), policy_name="bundled",
                              suite=args.suite, parallel=args.parallel, store=store)  # fmt: skip
        outcomes.append({e.task: e.passed for e in report.episodes})
        return report

    t0 = time.monotonic()
    start, name = current_checkpoint(data)  # round 0: the policy before this run learned anything
    rounds.append({"round": 0, "model": name, "builtin_success": rate_of(measure(start)),
                   "seconds": round(time.monotonic() - t0, 1)})  # fmt: skip
    print(f"round 0: {name} {rounds[-1]['builtin_success']}", file=sys.stderr)
    for r in range(args.iterations):
        t0 = time.monotonic()
        explored = {}
        for app in args.apps.split(","):
            got = run_cli(
                "explore", "--app", app, "--episodes", str(args.episodes), "--seed", str(100 + r),
                "--attempts", "1", "--parallel", str(args.parallel), "--data-dir", str(data),
            )  # fmt: skip
            explored[app] = got.get("admitted_tasks")
        trained = run_cli("train", "--data-dir", str(data))
        checkpoint, name = current_checkpoint(data)
        report = measure(checkpoint)
        rounds.append({
            "round": r + 1, "model": name, "promoted": trained.get("promoted"),
            "gate": trained.get("decision"), "explored_tasks": explored,
            "builtin_success": rate_of(report), "seconds": round(time.monotonic() - t0, 1),
        })  # fmt: skip
        print(f"round {r + 1}: {name} {rounds[-1]['builtin_success']}", file=sys.stderr)
    first, last = outcomes[0], outcomes[-1]
    wins = sum(1 for t in first if last.get(t) and not first[t])
    losses = sum(1 for t in first if first[t] and not last.get(t))
    rates = [r["builtin_success"]["rate"] or 0.0 for r in rounds]
    out = {
        "suite": args.suite, "tasks": len(tasks), "apps": args.apps, "episodes_per_round": args.episodes,
        "rounds": rounds, "data_dir": str(data), "rise": round(rates[-1] - rates[0], 4),
        "first_vs_last": {"wins": wins, "losses": losses, "p": round(sign_test_p_value(wins, losses), 4)},
    }  # fmt: skip
    if args.plot is not None:
        plot(rounds, args.plot)
        out["plot"] = str(args.plot)
    return out


def plot(rounds: list[dict[str, Any]], path: Path) -> None:
    """Draw built-in success per round with its 95 % interval (PIL: no plotting library needed)."""
    from PIL import Image, ImageDraw

    w, h, m = 640, 360, 50
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([m, m // 2, w - m // 2, h - m], outline="black")
    for k in range(0, 11, 2):
        y = h - m - (h - 1.5 * m) * k / 10
        d.line([m - 4, y, m, y], fill="black")
        d.text((8, y - 6), f"{k / 10:.1f}", fill="black")
    n = len(rounds)
    points = []
    for i, r in enumerate(rounds):
        x = m + (w - 1.5 * m) * (i + 0.5) / n
        s = r["builtin_success"]
        y = h - m - (h - 1.5 * m) * (s["rate"] or 0)
        lo, hi = s["ci95"] or [0, 0]
        d.line([x, h - m - (h - 1.5 * m) * lo, x, h - m - (h - 1.5 * m) * hi], fill="gray", width=2)
        d.text((x - 20, h - m + 8), f"round {r['round']}", fill="black")
        model = str(r.get("model", "")).split("-")[0] + (" (promoted)" if r.get("promoted") else "")
        d.text((x - 30, h - m + 22), model, fill="gray")
        d.text((x + 6, y - 14), f"{s['successes']}/{s['n']}", fill="blue")
        points.append((x, y))
    d.line(points, fill="blue", width=3)
    for x, y in points:
        d.ellipse([x - 4, y - 4, x + 4, y + 4], fill="blue")
    d.text((m, 6), "built-in success (95% interval) of the policy in use after each explore -> train -> gate"
           " round", fill="black")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="bundled checkpoint (default: shipped)")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument(
        "--quick", action="store_true", help="one instance per family, no LibreOffice/Chromium"
    )
    parser.add_argument("--instances", type=int, default=None, help="tasks per family (default: all)")
    parser.add_argument(
        "--policies", default=",".join(POLICIES), help="comma-separated: bundled,match,random"
    )
    parser.add_argument("--iterations", type=int, default=0, help="measure N learning rounds instead")
    parser.add_argument("--apps", default="galculator", help="with --iterations: apps explored each round")
    parser.add_argument("--episodes", type=int, default=6, help="with --iterations: walks per app per round")
    parser.add_argument("--suite", default="all", help="built-in tasks measured: all, or apps/families (a,b)")
    parser.add_argument("--plot", type=Path, default=None, help="with --iterations: write the plot here")
    parser.add_argument("--keep", type=Path, default=None, help="with --iterations: data directory to use")
    parser.add_argument("--memory-from", type=Path, default=None,
                        help="exploration data directory: memory_gain with its verified runs")  # fmt: skip
    parser.add_argument("--no-online-memory", action="store_true", help="skip memory_gain_online")
    args = parser.parse_args()
    t0 = time.monotonic()
    if args.iterations:
        measured = iterations(args)
        print(json.dumps({"iterations": measured, "wall_s": round(time.monotonic() - t0, 1)}, indent=1))
        return
    instances = 1 if args.quick else args.instances
    tasks = [t for part in args.suite.split(",")
             for t in select_tasks(part, instances=instances, include_slow=not args.quick)]  # fmt: skip
    singles = {t.id for t in tasks if single_step(t)}
    eval_split = {t.id for t in tasks if t.split == "eval"}
    by_id = {t.id: t for t in tasks}
    out: dict[str, Any] = {"tasks": len(tasks), "quick": args.quick, "parallel": args.parallel}
    success: dict[str, Any] = {}
    by_app: dict[str, Any] = {}
    single: dict[str, Any] = {}
    evals: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, TrajectoryStore(Path(tmp)) as store:
        for name in args.policies.split(","):
            factory = (
                policy_factory(name, bundled=args.checkpoint) if name == "bundled" else policy_factory(name)
            )

            def progress(ep: Any, name: str = name) -> None:
                print(f"{name}: {'pass' if ep.passed else 'FAIL'} {ep.task} {ep.steps} steps "
                      f"{ep.wall_s:.1f} s", file=sys.stderr)  # fmt: skip

            report = evaluate(tasks, factory, policy_name=name, suite="all", parallel=args.parallel,
                              store=store, on_episode=progress)  # fmt: skip
            success[name] = rate_of(report)
            apps = sorted({e.app for e in report.episodes})
            by_app[name] = {a: rate_of(report, {e.task for e in report.episodes if e.app == a}) for a in apps}
            single[name] = rate_of(report, singles)
            evals[name] = rate_of(report, eval_split)
            if name == "bundled":
                every, per_app = latencies(store, report)
                out["step_latency_ms"] = pct(every, 0.5)
                out["step_latency_p95_ms"] = pct(every, 0.95)
                out["step_latency_ms_by_app"] = {a: {"p50": pct(v, 0.5), "p95": pct(v, 0.95)}
                                                 for a, v in sorted(per_app.items())}  # fmt: skip
                missed: dict[str, list[str]] = {}
                for e in report.episodes:
                    if not e.passed:
                        missed.setdefault(e.family, ceiling(by_id[e.task]))
                out["ceiling_misses"] = {f: c for f, c in sorted(missed.items()) if c}
                out["bundled_failed_families"] = sorted(missed)
                out["bundled_mean_steps"] = round(statistics.mean(e.steps for e in report.episodes), 2)
                if args.memory_from is not None:
                    print("bundled with the exploration memory", file=sys.stderr)
                    out["memory_gain"] = memory_gain(tasks, factory, report, args.memory_from, args, store,
                                                     Path(tmp))  # fmt: skip
                if not args.no_online_memory:
                    print("bundled with its own memory, instance by instance", file=sys.stderr)
                    out["memory_gain_online"] = memory_gain_online(tasks, factory, report, args, store,
                                                                   Path(tmp))  # fmt: skip
    out.update(builtin_success=success, builtin_success_by_app=by_app, single_step_success=single)
    out.update(single_step_tasks=len(singles), eval_split_success=evals, eval_split_tasks=len(eval_split))
    out["wall_s"] = round(time.monotonic() - t0, 1)
    out["machine"] = {"nproc": os.cpu_count(), "load": os.getloadavg()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
