"""The Ray pool under `cua eval` and `cua explore`: losing a node mid-run, and nothing left running.

A head node and a second worker node are real ``ray start`` processes on 127.0.0.1. The
evaluation's episodes run in this process on sandboxes spread over both nodes; mid-run the worker
node is killed with SIGKILL (its raylet's process group and every process under it, as when a
machine is lost). Its runs in flight must end as ``error`` in the store, each such episode must
be retried as a new run on the head node, the report must count each episode once, and afterwards
no process of the cluster (raylet, GCS, Ray workers, sandboxes) may be left (``LocalCluster``
raises if one is). ``cua eval --ray auto`` and ``cua explore --ray auto`` start their own Ray
and stop it when they end, also with VM sandboxes (``--backend qemu``) in the actors.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cua.eval.suite import evaluate, select_tasks
from cua.policies.oracle import OraclePolicy
from cua.policy import PolicyInput, PolicyOutput
from cua.store import RunSource, RunStatus, TrajectoryStore
from cua.tasks import TaskSpec
from sandbox.base import Sandbox
from sandbox.qemu import IMAGE_ENV
from sandbox.ray_cluster import MARK, LocalCluster, marked_processes
from sandbox.ray_pool import RayPool, RemoteSandbox, ray_available
from tests.sandbox.vm_image import build_image

pytestmark = [
    pytest.mark.ray,
    pytest.mark.x11,
    pytest.mark.skipif(not ray_available(), reason="ray is not installed: pip install -e '.[ray]'"),
]


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A head node with two sandbox slots and a worker node with one, on 127.0.0.1."""
    with LocalCluster(head_sandboxes=2) as started:
        started.add_worker(sandboxes=1)
        try:
            yield started
        finally:
            import ray

            ray.shutdown()  # this process's connection, before the nodes go


class KillingOracle(OraclePolicy):
    """The oracle, which kills the worker node at its first step of a second episode there."""

    def __init__(self, task: TaskSpec, sandbox: Sandbox, kill: Killer) -> None:
        super().__init__(task, sandbox)
        self._kill = kill
        self._on_worker = isinstance(sandbox, RemoteSandbox) and sandbox.node_id == kill.worker_node

    def act(self, inp: PolicyInput) -> PolicyOutput:
        if self._on_worker:
            self._kill.maybe()
        return super().act(inp)


@dataclass
class Killer:
    """Kills the worker node once a second episode has started there."""

    worker: subprocess.Popen[bytes]
    worker_node: str = ""
    episodes_started_there: int = 0
    killed_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def maybe(self) -> None:
        with self.lock:
            if self.killed_at is None and self.episodes_started_there >= 2:
                LocalCluster.kill_node(self.worker)
                self.killed_at = time.monotonic()


@pytest.mark.timeout(240)
def test_an_evaluation_survives_losing_a_worker_node(cluster: LocalCluster, tmp_path: Path) -> None:
    import ray

    tasks = select_tasks("galculator", instances=2)
    with RayPool(2, address=cluster.address, heartbeat_s=1.0) as pool:
        deadline = time.monotonic() + 60
        while len(pool.connection.nodes()) < 2:
            assert time.monotonic() < deadline, "the worker node did not join in 60 s"
            time.sleep(0.2)
        assert pool.connection.capacity() == 3
        alive = [n for n in ray.nodes() if n["Alive"]]
        head_node = next(n["NodeID"] for n in alive if "node:__internal_head__" in n["Resources"])
        killer = Killer(cluster.workers[0], next(n for n in pool.connection.nodes() if n != head_node))
        attempts: dict[str, list[str]] = collections.defaultdict(list)

        def make_policy(task: TaskSpec, sb: Sandbox, seed: int) -> OraclePolicy:
            assert isinstance(sb, RemoteSandbox)
            with killer.lock:
                attempts[task.id].append(sb.node_id)
                if sb.node_id == killer.worker_node:
                    killer.episodes_started_there += 1
            return KillingOracle(task, sb, killer)

        with TrajectoryStore(tmp_path) as store:
            report = evaluate(tasks, make_policy, policy_name="oracle", parallel=2, store=store, pool=pool)
            runs = store.list_runs(limit=100)
    assert killer.killed_at is not None, "the worker node was never killed"
    # The report counts each episode once, and every one passed in the end.
    assert sorted(e.task for e in report.episodes) == sorted(t.id for t in tasks)
    assert all(e.passed for e in report.episodes), report.table()
    # Episodes ran on both nodes.
    nodes_used = {node for tried in attempts.values() for node in tried}
    assert nodes_used == {head_node, killer.worker_node}
    # The runs in flight on the killed node ended as errors; each was retried as a new run elsewhere.
    by_task: dict[str, list] = collections.defaultdict(list)
    for run in sorted((r for r in runs if r.source is RunSource.EVAL), key=lambda r: (r.created_at, r.id)):
        by_task[run.task_id or ""].append(run)
    errored = [r for rs in by_task.values() for r in rs if r.status is RunStatus.ERROR]
    assert errored, (
        f"no run was in flight on the killed node: {[(r.task_id, r.status, r.summary) for r in runs]}"
    )
    for task_id, task_runs in by_task.items():
        assert [r.status for r in task_runs][-1] is RunStatus.SUCCESS, task_id
        assert len(task_runs) == len(attempts[task_id]), (task_id, task_runs, attempts[task_id])
        for run, node in zip(task_runs, attempts[task_id], strict=True):
            if run.status is RunStatus.ERROR:
                assert node == killer.worker_node and "sandbox" in run.summary, (run.summary, node)
        if len(task_runs) > 1:
            assert attempts[task_id][-1] == head_node and task_runs[0].status is RunStatus.ERROR
    retried = [e for e in report.episodes if len(by_task[e.task]) > 1]
    assert len(retried) == len(errored)
    assert any("GuestDied" in line or "crashed" in line for line in report.pool_events)


@pytest.mark.timeout(120)
def test_cua_eval_with_ray_auto_starts_and_stops_its_own_ray(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark}  # as LocalCluster marks its processes, to find them all
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_AUTH_MODE", None)
    token_file = Path.home() / ".ray" / "auth_token"
    had_token_file = token_file.exists()
    out = subprocess.run(
        [sys.executable, "-m", "cua", "eval", "--suite", "galculator.press-digit", "--instances", "1",
         "--policy", "oracle", "--ray", "auto", "--parallel", "1", "--data-dir", str(tmp_path), "--json"],
        capture_output=True, text=True, env=env, timeout=100,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["overall"]["episodes"] == 1 and report["overall"]["successes"] == 1
    deadline = time.monotonic() + 10
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(mark) == []  # raylet, GCS, workers and sandboxes all stopped with the command
    assert token_file.exists() == had_token_file  # its token was its own, never written to HOME


@pytest.mark.timeout(180)
def test_cua_explore_with_ray_walks_in_a_remote_sandbox(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark}
    out = subprocess.run(
        [sys.executable, "-m", "cua", "explore", "--app", "galculator", "--episodes", "1", "--attempts", "0",
         "--random-actions", "3", "--no-gui-near-misses", "--composed", "0", "--ray", "auto",
         "--data-dir", str(tmp_path), "--json"],
        capture_output=True, text=True, env=env, timeout=170,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["status"] == "finished" and summary["walks"] == 1 and summary["admitted_tasks"] >= 1
    deadline = time.monotonic() + 10
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(mark) == []


@pytest.mark.vm
@pytest.mark.timeout(900)
def test_cua_eval_with_ray_runs_vm_sandboxes_in_the_actors(tmp_path: Path) -> None:
    """``--ray auto --backend qemu``: each actor boots a VM (TCG here), the oracle's result passes
    its validator, and the VM goes with the actor and the local Ray when the command ends."""
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark, IMAGE_ENV: str(build_image())}
    out = subprocess.run(
        [sys.executable, "-m", "cua", "eval", "--suite", "xterm.touch", "--instances", "1",
         "--policy", "oracle", "--ray", "auto", "--backend", "qemu", "--parallel", "1",
         "--data-dir", str(tmp_path), "--json"],
        capture_output=True, text=True, env=env, timeout=880,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["overall"]["episodes"] == 1 and report["overall"]["successes"] == 1, report
    deadline = time.monotonic() + 20
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(mark) == []  # QEMU included: it carries the actor's environment
