#!/usr/bin/env python3
"""Exploration figures: tasks invented and proven per application in a fixed budget, audited.

For each application, an exploration with a fixed wall-clock budget (``--minutes``) and
``--parallel`` sandboxes, in a fresh data directory. Prints one JSON object:

- per application (``apps_detail``): ``admitted_tasks``, ``proven_tasks`` (admission proves by
  replay; a template task is admitted unproven until an attempt passes it: ``template_tasks``,
  ``templates_proven``), ``task_kinds`` and ``chains_3plus`` (of proven tasks), ``rejected`` by reason,
  ``walks``, ``candidates``, ``episodes_per_hour`` (walks, each with its admission);
- totals: ``apps``, ``admitted_tasks``, ``proven_tasks``, ``task_kinds`` (distinct app/kind pairs
  of proven tasks), ``template_tasks``, ``templates_proven``;
- ``false_positives``: ``scripts/audit_synthesized.py`` (which does not import ``cua.synth``) on a
  sample of the admitted tasks, against generated wrong outcomes; with ``audited``;
- ``resume_lost_episodes``: walks lost by a ``kill -9`` of ``cua explore`` and the same command
  run again (``--resume-app``; at most the parallelism).

Usage: ``python scripts/bench_explore.py [--app APP ...] [--minutes 10] [--parallel 2] [--audit 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cua.explore import Explorer, ExploreSettings
from cua.synth.seeds import SEEDED_APPS
from cua.synth.shell import route
from sandbox.profile import find_profile
from sandbox.xvfb import XvfbSandbox

ROOT = Path(__file__).resolve().parent.parent


def explore_app(app: str, data: Path, minutes: float, parallel: int) -> dict[str, Any]:
    screen = find_profile(app).screen
    settings = ExploreSettings(app, episodes=None, hours=minutes / 60, parallel=parallel)
    t0 = time.monotonic()
    explorer = Explorer(settings, data, lambda: XvfbSandbox(screen))
    try:
        summary = explorer.run()
    finally:
        explorer.db.close()
    hours = (time.monotonic() - t0) / 3600
    summary["episodes_per_hour"] = round(summary["walks"] / hours, 1) if hours else 0.0
    return summary


def resume_lost(app: str, parallel: int) -> int:
    data = Path(tempfile.mkdtemp(prefix="bench-explore-resume-"))
    cmd = [sys.executable, "-m", "cua", "explore", "--app", app, "--episodes", str(4 * parallel),
           "--parallel", str(parallel), "--data-dir", str(data), "--no-gui-near-misses"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    db = data / "explore.sqlite"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if db.exists():
            with sqlite3.connect(db) as conn:
                try:
                    if conn.execute("SELECT COUNT(*) FROM walks").fetchone()[0] >= parallel:
                        break
                except sqlite3.OperationalError:
                    pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=3600)
    return len(json.loads(done.stdout).get("lost_walks_resumed", []))


def main() -> int:
    """Run the benchmark and print its JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--app", action="append", help="only these applications (repeatable; default: all)")
    ap.add_argument("--minutes", type=float, default=10.0, help="budget per application (default 10)")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--audit", type=int, default=50, help="admitted tasks audited (default 50)")
    ap.add_argument(
        "--resume-app", default="galculator", help="app of the kill -9 resume measurement ('' skips)"
    )
    args = ap.parse_args()
    apps = args.app or sorted(SEEDED_APPS)
    # An app with neither an accessibility tree nor a shell (with OCR to read it) cannot be walked.
    excluded = {a: why for a in apps for how, why in [route(find_profile(a))] if how is None}
    apps = [a for a in apps if a not in excluded]
    data = Path(tempfile.mkdtemp(prefix="bench-explore-"))
    detail = {app: explore_app(app, data, args.minutes, args.parallel) for app in apps}
    audit = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit_synthesized.py"), str(data / "synth"),
         "--sample", str(args.audit), "--parallel", str(args.parallel)],
        capture_output=True, text=True,
    )  # fmt: skip
    audited = json.loads(audit.stdout) if audit.stdout.strip() else {"error": audit.stderr[-2000:]}
    with sqlite3.connect(data / "explore.sqlite") as conn:
        kinds = conn.execute(
            "SELECT COUNT(DISTINCT app || ' ' || kind) FROM tasks WHERE proven = 1"
        ).fetchone()[0]
    out = {
        "apps": len(apps),
        "excluded_apps": excluded,
        "minutes_per_app": args.minutes,
        "parallel": args.parallel,
        "admitted_tasks": sum(d["admitted_tasks"] for d in detail.values()),
        "proven_tasks": sum(d["proven_tasks"] for d in detail.values()),
        "task_kinds": kinds,
        "template_tasks": sum(d["template_tasks"] for d in detail.values()),
        "templates_proven": sum(d["templates_proven"] for d in detail.values()),
        "false_positives": audited.get("false_positives"),
        "audited": audited.get("audited"),
        "audit": audited,
        "resume_lost_episodes": resume_lost(args.resume_app, args.parallel) if args.resume_app else None,
        "apps_detail": detail,
        "data_dir": str(data),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
