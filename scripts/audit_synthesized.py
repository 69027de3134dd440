#!/usr/bin/env python3
"""Audit synthesized tasks against wrong outcomes, from code that does not import ``cua.synth``.

Loads task files (a folder such as ``<data dir>/synth``, searched recursively), samples up to
``--sample`` of them, and for each: starts it, replays its demonstration, and runs every near-miss
operator of ``cua.tasks.nearmiss`` (file damage, unsaved, skipped steps, typos, clicks on another
control of the same kind, repeated steps). A near miss the task's validator accepts is a false
positive. Template tasks (no demonstration) are counted, not audited. Prints one JSON object:
``audited``, ``without_demonstration``, ``near_misses``, ``false_positives`` (must be 0),
``false_passes`` (task: near miss), ``errors`` (tasks whose demonstration did not run), ``seconds``.

Usage: ``python scripts/audit_synthesized.py DIR [--sample 50] [--seed 0] [--parallel 2]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cua.tasks import TaskSpec, load_file
from cua.tasks.nearmiss import PER_OPERATOR, generate
from sandbox.xvfb import XvfbSandbox


def main() -> int:
    """Audit and print the JSON object; exit 1 on a false positive."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parallel", type=int, default=2)
    args = ap.parse_args()
    found: list[TaskSpec] = [f.instance(0) for p in sorted(args.folder.rglob("*.yaml")) for f in load_file(p)]
    # Near misses are made from a demonstration; a template task has none (its validators are
    # tried against wrong outcomes in tests/cua/synth/test_templates.py instead).
    tasks = [t for t in found if t.oracle is not None]
    rng = random.Random(args.seed)
    sample = rng.sample(tasks, min(args.sample, len(tasks)))
    local = threading.local()
    boxes: list[XvfbSandbox] = []
    lock = threading.Lock()

    def audit(task: TaskSpec) -> dict[str, Any]:
        if not hasattr(local, "sb"):
            local.sb = XvfbSandbox()
            with lock:
                boxes.append(local.sb)
        made = generate(local.sb, task, gui=True, per_operator=PER_OPERATOR)
        return {
            "task": task.id,
            "near_misses": len(made.generated),
            "false": [g.name for g in made.false_passes],
            "error": made.error,
        }

    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(max(1, args.parallel)) as pool:
            results = list(pool.map(audit, sample))
    finally:
        for sb in boxes:
            sb.close()
    assert not any(m == "cua.synth" or m.startswith("cua.synth.") for m in sys.modules), (
        "audit imported cua.synth"
    )
    out = {
        "tasks_found": len(found),
        "without_demonstration": len(found) - len(tasks),
        "audited": len(results),
        "near_misses": sum(r["near_misses"] for r in results),
        "false_positives": sum(len(r["false"]) for r in results),
        "false_passes": {r["task"]: r["false"] for r in results if r["false"]},
        "errors": {r["task"]: r["error"] for r in results if r["error"]},
        "seconds": round(time.monotonic() - t0, 1),
    }
    print(json.dumps(out, indent=2))
    return 1 if out["false_positives"] else 0


if __name__ == "__main__":
    sys.exit(main())
