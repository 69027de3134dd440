"""Benchmark of replay: recorded runs re-played on another instance, in a moved and resized window.

For every built-in family: the oracle solves instance 0 through the agent loop (recorded in a
temporary store, verified by the validator); then that run is replayed on instance 1 after the
application window was moved by 200 px and resized by 25 %, with no fallback model, so every
divergence is a failure. The replay's success is what instance 1's validator says.

Prints one JSON object on stdout (progress on stderr): ``replay_success`` (fraction of families
whose replay passed), ``families``, per-family results (steps replayed, targets re-located,
where and why it handed over, the window's shift and scale), and the excluded applications.
LibreOffice and Chromium are left out by default (``--slow`` includes them): they are the slow
applications of ``cua eval --no-slow`` too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cua.eval.suite import SLOW_APPS, Episode, evaluate
from cua.policies.oracle import OraclePolicy
from cua.replay import ReplayResult, replay
from cua.store import TrajectoryStore
from cua.tasks import builtin_families
from sandbox.xvfb import XvfbSandbox


def _count(row: dict[str, object], key: str) -> int:
    value = row.get(key)
    return value if isinstance(value, int) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="include LibreOffice and Chromium")
    parser.add_argument("--family", action="append", help="only these family ids (repeatable)")
    parser.add_argument("--parallel", type=int, default=2, help="sandboxes recording at once")
    parser.add_argument("--no-move", action="store_true", help="replay without moving the window")
    args = parser.parse_args()
    families = [f for f in builtin_families() if args.slow or f.app not in SLOW_APPS]
    if args.family:
        families = [f for f in families if f.id in args.family]
    families = [f for f in families if f.instances > 1]
    t0 = time.monotonic()

    def progress(ep: Episode) -> None:
        print(f"recorded {ep.task}: {'pass' if ep.passed else 'FAIL'} in {ep.steps} steps", file=sys.stderr)

    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp, TrajectoryStore(Path(tmp)) as store:
        recorded = evaluate([f.instance(0) for f in families], lambda task, sb, seed: OraclePolicy(task, sb),
                            policy_name="oracle", suite="replay", parallel=args.parallel, store=store,
                            on_episode=progress)  # fmt: skip
        with XvfbSandbox() as sandbox:
            for family, ep in zip(families, recorded.episodes, strict=True):
                row: dict[str, object] = {
                    "family": family.id,
                    "recorded": ep.task,
                    "replayed_on": f"{family.id}/1",
                }
                if not ep.passed or ep.run_id is None:
                    row.update(passed=False, error=f"the oracle recording failed: {ep.error or ep.status}")
                    results.append(row)
                    continue
                try:
                    res: ReplayResult = replay(
                        store, ep.run_id, sandbox, task_id=f"{family.id}/1", move_window=not args.no_move
                    )
                    row.update(res.to_json())
                except Exception as exc:  # a benchmark reports every failure and goes on
                    row.update(passed=False, error=f"{type(exc).__name__}: {exc}")
                results.append(row)
                why = row.get("handover_reason") or row.get("error") or "no handover"
                print(
                    f"replayed {family.id}/1: {'pass' if row.get('passed') else 'FAIL'} "
                    f"relocated {row.get('relocated')}, {why}",
                    file=sys.stderr,
                )
    passed = sum(bool(r.get("passed")) for r in results)
    print(
        json.dumps(
            {
                "replay_success": round(passed / len(results), 4) if results else 0.0,
                "families": len(results),
                "passed": passed,
                "window_moved": not args.no_move,
                "excluded_apps": [] if args.slow else sorted(SLOW_APPS),
                "steps_replayed": sum(_count(r, "replayed") for r in results),
                "targets_relocated": sum(_count(r, "relocated") for r in results),
                "handed_over": sum(r.get("handed_over_at") is not None for r in results),
                "wall_s": round(time.monotonic() - t0, 1),
                "per_family": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
