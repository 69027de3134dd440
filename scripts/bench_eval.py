"""Benchmark of the built-in suites: the oracle solves every task, doing nothing solves none.

Prints one JSON object on stdout (progress on stderr):
``oracle_success`` (must be 1.0), ``noop_success`` (must be 0.0), ``tasks``, ``families``, ``apps``
and ``held_out_tasks`` (counts), and ``episodes_per_min`` of the oracle at ``--parallel`` (4).
Every episode goes through the real agent loop, sandbox pool, store and validators.

``--repeat N`` runs the oracle evaluation N times (an oracle must not flake): ``oracle_success``
is then over all N x tasks episodes, ``oracle_success_per_repeat`` gives each repeat's rate, and
``oracle_failures`` lists every failed episode (task, repeat, status, the validator's reasons,
the error) across the repeats. The noop baseline runs once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cua.eval.suite import Episode, EvalReport, evaluate, select_tasks
from cua.policies.baselines import NoopPolicy
from cua.policies.oracle import OraclePolicy
from cua.store import TrajectoryStore
from cua.tasks import builtin_families


def failure(store: TrajectoryStore, ep: Episode, repeat: int) -> dict[str, Any]:
    """Describe a failed episode: its task, repeat, how it ended, the validator's reasons, the error."""
    reasons: list[str] = []
    summary = None
    if ep.run_id is not None:
        run = store.get_run(ep.run_id)
        summary = run.summary or None
        if run.verdict is not None:
            reasons = list(run.verdict.reasons)
    return {
        "task": ep.task,
        "repeat": repeat,
        "status": ep.status,
        "score": round(ep.score, 4),
        "steps": ep.steps,
        "wall_s": round(ep.wall_s, 1),
        "reasons": reasons,
        "error": ep.error or (summary if ep.status != "success" else None),
        "run_id": ep.run_id,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=4, help="sandboxes at once (the issue asks for 4)")
    parser.add_argument("--instances", type=int, default=None, help="tasks per family (default: all)")
    parser.add_argument("--no-slow", action="store_true", help="leave out LibreOffice and Chromium")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the oracle evaluation N times, reporting every failure"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    tasks = select_tasks("all", instances=args.instances, include_slow=not args.no_slow)
    families = {t.family for t in tasks}

    repeat = 1

    def progress(ep: Episode) -> None:
        print(
            f"{'pass' if ep.passed else 'FAIL'} {ep.task} {ep.steps} steps {ep.wall_s:.1f} s"
            + (f" (repeat {repeat})" if args.repeat > 1 else "")
            + (f": {ep.error}" if ep.error else ""),
            file=sys.stderr,
        )

    oracles: list[EvalReport] = []
    failed: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, TrajectoryStore(Path(tmp)) as store:
        for repeat in range(1, args.repeat + 1):
            report = evaluate(
                tasks,
                lambda task, sb, seed: OraclePolicy(task, sb),
                policy_name="oracle",
                suite="all",
                parallel=args.parallel,
                store=store,
                on_episode=progress,
            )
            oracles.append(report)
            failed += [failure(store, e, repeat) for e in report.episodes if not e.passed]
        noop = evaluate(tasks, lambda task, sb, seed: NoopPolicy(), policy_name="noop", suite="all",
                        parallel=args.parallel, store=store)  # fmt: skip
    oracle = EvalReport(
        "all", "oracle", [e for r in oracles for e in r.episodes], sum(r.wall_s for r in oracles)
    )
    print(
        json.dumps(
            {
                "oracle_success": round(oracle.overall.rate, 4),
                "oracle_success_per_repeat": [round(r.overall.rate, 4) for r in oracles],
                "repeat": args.repeat,
                "oracle_episodes": len(oracle.episodes),
                "noop_success": round(noop.overall.rate, 4),
                "tasks": len(tasks),
                "families": len(families),
                "apps": len({t.app for t in tasks}),
                "held_out_tasks": sum(t.held_out for t in tasks),
                "episodes_per_min": round(oracle.episodes_per_min, 1),
                "parallel": args.parallel,
                "oracle_wall_s": round(oracle.wall_s, 1),
                "oracle_mean_steps": round(oracle.overall.mean_steps, 2),
                "oracle_failures": failed,
                "noop_passes": [e.task for e in noop.episodes if e.passed],
                "builtin_families_total": len(builtin_families()),
                "pool_events": [ev for r in oracles for ev in r.pool_events] + noop.pool_events,
                "machine": {"nproc": os.cpu_count(), "load": os.getloadavg()},
            }
        )
    )


if __name__ == "__main__":
    main()
