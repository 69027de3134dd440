"""Benchmark of the Ray pool against the local pool: the same oracle evaluation on both.

Prints one JSON object on stdout (progress on stderr):

- ``local_episodes_per_min`` and ``ray_episodes_per_min``: the oracle on ``--suite`` at
  ``--parallel`` sandboxes, on a local ``SandboxPool`` and on a ``RayPool`` over a local Ray on
  this one machine (started before the clock runs: ``ray_start_s``), alternating ``--rounds``
  times so that a change in the machine's load hits both; ``ray_over_local`` is their ratio
  (target: at least 0.8);
- ``lease_ms_local`` / ``lease_ms_ray``: per-episode scheduling latency, median and p95 of a lease
  (from asking the pool for a sandbox to holding one reset for the episode's task; the first lease
  of a slot also starts its sandbox, and on Ray places its actor);
- ``step_ms_local`` / ``step_ms_ray`` and ``ray_call_overhead_ms``: a step's wall time in the
  driver (median of ``--steps``), and what the actor boundary adds to it (screenshots cross it
  PNG-compressed, only the box that changed);
- ``ray_lost_episodes`` (must be 0), ``ray_retried_episodes`` and ``ray_error_runs``: an evaluation
  on a two-node ``LocalCluster`` whose worker node is killed with SIGKILL mid-run;
  ``ray_leftover_processes`` counts the cluster's processes that outlived it (must be 0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cua.eval.suite import Episode, EvalReport, evaluate, select_tasks
from cua.policies.oracle import OraclePolicy
from cua.policy import PolicyInput, PolicyOutput
from cua.store import RunSource, RunStatus, TrajectoryStore
from cua.tasks import TaskSpec
from sandbox import Move, Pool, PoolEvent, Sandbox, SandboxPool, XvfbSandbox
from sandbox.pool import DEFAULT_LEASE_TIMEOUT_S
from sandbox.profile import AppProfile, SetupStep
from sandbox.ray_cluster import LocalCluster
from sandbox.ray_pool import RayConnection, RayPool, RemoteSandbox


def log(text: str) -> None:
    print(f"[bench_pool] {text}", file=sys.stderr, flush=True)


class TimedPool(Pool):
    """A pool that times each lease of the pool it wraps (``lease_ms``), for the scheduling latency."""

    def __init__(self, inner: Pool) -> None:
        super().__init__()
        self.inner = inner
        self.lease_ms: list[float] = []

    @property
    def size(self) -> int:
        return self.inner.size

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @property
    def events(self) -> list[PoolEvent]:
        return self.inner.events

    @contextlib.contextmanager
    def lease(
        self,
        profile: AppProfile | str,
        setup: Sequence[SetupStep] = (),
        app_args: Sequence[str] = (),
        *,
        timeout_s: float = DEFAULT_LEASE_TIMEOUT_S,
    ) -> Iterator[Sandbox]:
        t0 = time.monotonic()
        with self.inner.lease(profile, setup, app_args, timeout_s=timeout_s) as sb:
            self.lease_ms.append((time.monotonic() - t0) * 1000)
            yield sb

    def abandon(self, sandbox: Sandbox, reason: str) -> None:
        self.inner.abandon(sandbox, reason)

    def close(self) -> None:
        self.inner.close()


def quantiles(values: Sequence[float]) -> dict[str, float]:
    """Return the median and 95th percentile of ``values``, rounded (zeros when empty)."""
    if not values:
        return {"median": 0.0, "p95": 0.0}
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
    }


def run_eval(pool: Pool, tasks: Sequence[TaskSpec], parallel: int, store: TrajectoryStore) -> EvalReport:
    def progress(ep: Episode) -> None:
        log(f"{'pass' if ep.passed else 'FAIL'} {ep.task} {ep.steps} steps {ep.wall_s:.1f} s")

    return evaluate(tasks, lambda task, sb, seed: OraclePolicy(task, sb), policy_name="oracle",
                    parallel=parallel, store=store, pool=pool, on_episode=progress)  # fmt: skip


def step_ms(sb: Sandbox, steps: int) -> list[float]:
    """Return the driver's wall time (ms) of ``steps`` moves on a sandbox reset to galculator."""
    sb.reset("galculator")
    times = []
    for i in range(steps):
        t0 = time.monotonic()
        sb.step(Move(100 + 7 * i, 200 + 5 * i), settle_s=0.2)
        times.append((time.monotonic() - t0) * 1000)
    return times


def throughput(args: argparse.Namespace, tasks: list[TaskSpec], out: dict[str, Any]) -> None:
    """Run the oracle on the local pool and on Ray (one machine), alternating; fill ``out``."""
    local_eps = ray_eps = 0
    local_s = ray_s = 0.0
    local_lease: list[float] = []
    ray_lease: list[float] = []
    passed = {"local": 0, "ray": 0}
    t0 = time.monotonic()
    with contextlib.closing(RayConnection("auto", sandboxes=args.parallel, num_cpus=os.cpu_count())):
        out["ray_start_s"] = round(time.monotonic() - t0, 2)
        with tempfile.TemporaryDirectory() as tmp, TrajectoryStore(Path(tmp)) as store:
            for r in range(args.rounds):
                log(f"round {r + 1}: local pool")
                local = TimedPool(SandboxPool(args.parallel))
                with contextlib.closing(local):
                    report = run_eval(local, tasks, args.parallel, store)
                local_eps, local_s = local_eps + len(report.episodes), local_s + report.wall_s
                local_lease += local.lease_ms
                passed["local"] += sum(e.passed for e in report.episodes)
                log(f"round {r + 1}: Ray pool")
                # A fresh set of actors each round, as the local pool starts fresh sandboxes.
                remote = TimedPool(RayPool(args.parallel, address="auto"))
                with contextlib.closing(remote):
                    report = run_eval(remote, tasks, args.parallel, store)
                ray_eps, ray_s = ray_eps + len(report.episodes), ray_s + report.wall_s
                ray_lease += remote.lease_ms
                passed["ray"] += sum(e.passed for e in report.episodes)
        log("step latency")
        with XvfbSandbox() as local_sb:
            local_steps = step_ms(local_sb, args.steps)
        remote_sb = RemoteSandbox(XvfbSandbox)
        try:
            ray_steps = step_ms(remote_sb, args.steps)
        finally:
            remote_sb.close()
    local_rate, ray_rate = local_eps / local_s * 60, ray_eps / ray_s * 60
    out.update(
        local_episodes_per_min=round(local_rate, 1),
        ray_episodes_per_min=round(ray_rate, 1),
        ray_over_local=round(ray_rate / local_rate, 3),
        episodes_per_pool=local_eps,
        success={k: round(v / local_eps, 3) for k, v in passed.items()},
        lease_ms_local=quantiles(local_lease),
        lease_ms_ray=quantiles(ray_lease),
        step_ms_local=quantiles(local_steps),
        step_ms_ray=quantiles(ray_steps),
        ray_call_overhead_ms=round(statistics.median(ray_steps) - statistics.median(local_steps), 1),
    )


class NodeKiller:
    """Kills the worker node at the first step of the second episode that runs there."""

    def __init__(self, worker: subprocess.Popen[bytes], node_id: str) -> None:
        self.worker = worker
        self.node_id = node_id
        self.started = 0
        self.killed = False
        self.lock = threading.Lock()

    def episode_starts(self, sb: Sandbox) -> bool:
        """Count an episode about to run on ``sb``; return whether it runs on the worker node."""
        there = isinstance(sb, RemoteSandbox) and sb.node_id == self.node_id
        with self.lock:
            self.started += there
        return there

    def maybe_kill(self) -> None:
        with self.lock:
            if not self.killed and self.started >= 2:
                log("killing the worker node")
                LocalCluster.kill_node(self.worker)
                self.killed = True


class KillingOracle(OraclePolicy):
    """The oracle, which on the worker node lets the ``NodeKiller`` act before each of its steps."""

    def __init__(self, task: TaskSpec, sandbox: Sandbox, killer: NodeKiller) -> None:
        super().__init__(task, sandbox)
        self._killer = killer if killer.episode_starts(sandbox) else None

    def act(self, inp: PolicyInput) -> PolicyOutput:
        if self._killer is not None:
            self._killer.maybe_kill()
        return super().act(inp)


def node_loss(args: argparse.Namespace, tasks: list[TaskSpec], out: dict[str, Any]) -> None:
    """Evaluate on a head and a worker node, kill the worker node mid-run; fill ``out``."""
    import ray

    cluster = LocalCluster(head_sandboxes=args.parallel)
    left: list[tuple[int, str]] = []
    try:
        worker = cluster.add_worker(sandboxes=max(1, args.parallel // 2))
        with contextlib.closing(RayPool(args.parallel, address=cluster.address, heartbeat_s=1.0)) as pool:
            deadline = time.monotonic() + 60
            while len(pool.connection.nodes()) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            head = next(n["NodeID"] for n in ray.nodes() if "node:__internal_head__" in n["Resources"])
            killer = NodeKiller(worker, next(n for n in pool.connection.nodes() if n != head))

            def make_policy(task: TaskSpec, sb: Sandbox, seed: int) -> OraclePolicy:
                return KillingOracle(task, sb, killer)

            with tempfile.TemporaryDirectory() as tmp, TrajectoryStore(Path(tmp)) as store:
                report = evaluate(tasks, make_policy, policy_name="oracle", parallel=args.parallel,
                                  store=store, pool=pool)  # fmt: skip
                runs = [r for r in store.list_runs(limit=1000) if r.source is RunSource.EVAL]
        ray.shutdown()
        counted = [e.task for e in report.episodes]
        out.update(
            ray_node_killed=killer.killed,
            ray_lost_episodes=sum(not e.passed for e in report.episodes) + len(tasks) - len(set(counted)),
            ray_episodes_counted_once=len(counted) == len(set(counted)) == len(tasks),
            ray_retried_episodes=len(runs) - len(tasks),
            ray_error_runs=sum(r.status is RunStatus.ERROR for r in runs),
        )
    finally:
        left = cluster.close()
        out["ray_leftover_processes"] = len(left)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="galculator", help="the task suite (as cua eval --suite)")
    parser.add_argument("--instances", type=int, default=4, help="tasks per family")
    parser.add_argument("--parallel", type=int, default=2, help="sandboxes at once, on both pools")
    parser.add_argument("--rounds", type=int, default=2, help="evaluations on each pool, alternating")
    parser.add_argument("--steps", type=int, default=20, help="steps timed on one sandbox of each kind")
    parser.add_argument("--no-kill", action="store_true", help="skip the two-node run with a node killed")
    args = parser.parse_args()
    tasks = select_tasks(args.suite, instances=args.instances)
    out: dict[str, Any] = {"suite": args.suite, "tasks": len(tasks), "parallel": args.parallel,
                           "rounds": args.rounds}  # fmt: skip
    throughput(args, tasks, out)
    if not args.no_kill:
        node_loss(args, select_tasks(args.suite, instances=2), out)
    out["machine"] = {"nproc": os.cpu_count(), "load": [round(v, 2) for v in os.getloadavg()]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
