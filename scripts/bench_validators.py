#!/usr/bin/env python3
"""How hard the built-in validators are to fool: generated near misses and alternate routes.

For every built-in family (instance 0 by default): ``prove`` (doing nothing fails, the oracle,
every listed near miss fails, every alternate route passes) and the near misses generated from
the state diff (``cua.tasks.nearmiss``), each of which must fail. Prints one JSON object:

- ``families``, ``tasks``;
- ``generated_near_misses`` and ``near_miss_false_passes`` (must be 0), with the counts
  ``per_operator`` and the names of any false pass in ``false_passes``;
- ``listed_near_misses`` and ``listed_near_miss_false_passes`` (the families' own);
- ``alternate_routes`` and ``alternate_route_false_fails`` (must be 0);
- ``equivalent`` (alterations that reached the correct state: not near misses), ``skipped``;
- ``errors`` (a proof or a generation that could not run), ``seconds``, ``parallel``.

Usage: ``python scripts/bench_validators.py [--parallel 2] [--app APP ...] [--instances N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cua.tasks import TaskFamily, builtin_families
from cua.tasks.nearmiss import OPERATORS, generate
from cua.tasks.runner import prove
from sandbox.xvfb import XvfbSandbox


def main() -> int:
    """Run the benchmark and print its JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parallel", type=int, default=2, help="sandboxes working at once (default 2)")
    ap.add_argument("--app", action="append", help="only the families of this application (repeatable)")
    ap.add_argument("--instances", type=int, default=1, help="instances per family (default 1: instance 0)")
    args = ap.parse_args()
    families = [f for f in builtin_families() if not args.app or f.app in args.app]
    jobs = [
        (f, i) for f in sorted(families, key=lambda f: f.app) for i in range(min(args.instances, f.instances))
    ]
    local = threading.local()
    sandboxes: list[XvfbSandbox] = []
    lock = threading.Lock()

    def work(job: tuple[TaskFamily, int]) -> dict[str, Any]:
        if not hasattr(local, "sb"):
            local.sb = XvfbSandbox()
            with lock:
                sandboxes.append(local.sb)
        family, index = job
        return measure(local.sb, family, index)

    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            rows = list(pool.map(work, jobs))
    finally:
        for sb in sandboxes:
            sb.close()
    print(json.dumps(summary(rows, len(families), time.monotonic() - t0, args.parallel), indent=2))
    return 0


def measure(sb: XvfbSandbox, family: TaskFamily, index: int) -> dict[str, Any]:
    """Prove one task and generate its near misses; return the figures."""
    task = family.instance(index)
    t0 = time.monotonic()
    proof = prove(sb, family, index)
    report = generate(sb, task)
    errors = [f"{task.id}: proof: {p}" for p in proof.problems() if p.startswith("error")]
    if report.error:
        errors.append(f"{task.id}: generation: {report.error}")
    return {
        "task": task.id,
        "app": family.app,
        "generated": len(report.generated),
        "per_operator": report.per_operator(),
        "false_passes": [f"{task.id}: {g.name}" for g in report.false_passes],
        "listed": len(proof.near_misses),
        "listed_false_passes": [f"{task.id}: {n}" for n, v in proof.near_misses.items() if v.passed],
        "alternates": len(proof.alternates),
        "alternate_false_fails": [f"{task.id}: {n}" for n, v in proof.alternates.items() if not v.passed],
        "equivalent": len(report.equivalent),
        "skipped": len(report.skipped),
        "errors": errors,
        "seconds": round(time.monotonic() - t0, 1),
    }


def summary(rows: list[dict[str, Any]], families: int, seconds: float, parallel: int) -> dict[str, Any]:
    """Fold the per-task rows into the benchmark's JSON object."""
    per_op: Counter[str] = Counter()
    for row in rows:
        per_op.update(row["per_operator"])
    few = [r["task"] for r in rows if r["generated"] < 5]
    return {
        "families": families,
        "tasks": len(rows),
        "generated_near_misses": sum(r["generated"] for r in rows),
        "near_miss_false_passes": sum(len(r["false_passes"]) for r in rows),
        "false_passes": [name for r in rows for name in r["false_passes"]],
        "per_operator": {op: per_op[op] for op in OPERATORS if per_op[op]},
        "tasks_with_fewer_than_5": few,
        "listed_near_misses": sum(r["listed"] for r in rows),
        "listed_near_miss_false_passes": sum(len(r["listed_false_passes"]) for r in rows),
        "alternate_routes": sum(r["alternates"] for r in rows),
        "alternate_route_false_fails": sum(len(r["alternate_false_fails"]) for r in rows),
        "alternate_false_fails": [name for r in rows for name in r["alternate_false_fails"]],
        "equivalent": sum(r["equivalent"] for r in rows),
        "skipped": sum(r["skipped"] for r in rows),
        "errors": [e for r in rows for e in r["errors"]],
        "per_task": {r["task"]: {"generated": r["generated"], "seconds": r["seconds"]} for r in rows},
        "seconds": round(seconds, 1),
        "parallel": parallel,
    }


if __name__ == "__main__":
    sys.exit(main())
