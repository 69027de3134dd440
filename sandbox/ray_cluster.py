"""A Ray cluster of several nodes on this one machine, as real ``ray start`` processes.

For the tests and benchmarks of the Ray pool (``sandbox/ray_pool.py``), and for trying it before
a real cluster exists: ``LocalCluster`` starts a head node and worker nodes on 127.0.0.1, each a
``ray start --block`` process in a process group of its own with its own ``sandbox`` slots, all
sharing a fresh authentication token and a temp folder. ``kill_node`` ends a node as a lost
machine ends (SIGKILL to it and every process under it), and ``close`` stops what is left and
reports any process of the cluster that outlived it. Every process it starts carries
``CUA_RAY_CLUSTER=<id>`` in its environment, which is how ``processes`` finds them all (Ray's
workers run in sessions of their own, outside the nodes' process groups).

It never runs ``ray stop``: that stops every Ray on the machine, other users' included.
"""

from __future__ import annotations

import collections
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from sandbox.process import processes_with_env
from sandbox.ray_pool import RESOURCE

#: The environment variable that marks every process of a ``LocalCluster``.
MARK = "CUA_RAY_CLUSTER"

#: Ray's node health checks, made fast: a lost node is declared dead after about 1.5 s instead
#: of the default half minute, so that its actors' callers hear of it quickly.
FAST_HEALTH_CHECKS = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_initial_delay_ms": "0",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Return the pids of every live descendant of ``pid``."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[parent].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def marked_processes(cluster_id: str) -> list[tuple[int, str]]:
    """Return (pid, command) of live processes (not zombies) with ``CUA_RAY_CLUSTER=cluster_id``."""
    return processes_with_env(MARK, cluster_id)


class LocalCluster:
    """A head node and worker nodes on 127.0.0.1; use as a context manager.

    ``head_sandboxes`` and each worker's ``sandboxes`` are the ``sandbox`` slots the node
    advertises; ``cpus`` the CPUs each node offers Ray; ``env`` is added to every node's
    environment (its sandboxes inherit it). The token is put in this process's environment too
    (``RAY_AUTH_TOKEN``, ``RAY_AUTH_MODE``) while the cluster runs, so that a ``RayPool`` here can
    connect to ``address``.
    """

    def __init__(
        self,
        *,
        head_sandboxes: int = 1,
        cpus: int = 1,
        object_store_mb: int = 80,
        env: Mapping[str, str] | None = None,
        fast_health_checks: bool = True,
        ray: str | None = None,
    ) -> None:
        """Start the head node and wait (at most a minute) until it accepts connections."""
        self.id = uuid.uuid4().hex
        self.temp_dir = tempfile.mkdtemp(prefix="cua-ray-")  # short: socket paths have a length limit
        self._ray = ray or str(Path(sys.executable).with_name("ray"))
        self._cpus = cpus
        self._object_store_mb = object_store_mb
        token = secrets.token_hex(32)
        self._env = {
            **os.environ,
            **(env or {}),
            **(FAST_HEALTH_CHECKS if fast_health_checks else {}),
            MARK: self.id,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
        }
        self._saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.workers: list[subprocess.Popen[bytes]] = []
        self.head: subprocess.Popen[bytes] | None = None
        self.head = self._start(
            "head", "--head", f"--port={self.port}", "--include-dashboard=false",
            f"--temp-dir={self.temp_dir}", f"--resources={{\"{RESOURCE}\": {head_sandboxes}}}",
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.head.poll() is not None or time.monotonic() > deadline:
                log = (Path(self.temp_dir) / "head.log").read_text(errors="replace")[-2000:]
                self.close()
                raise RuntimeError(f"the Ray head did not start: {log}")
            time.sleep(0.2)

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        common = [
            "--node-ip-address=127.0.0.1", f"--num-cpus={self._cpus}",
            f"--object-store-memory={self._object_store_mb * 1024 * 1024}",
            "--disable-usage-stats", "--block",
        ]  # fmt: skip
        with open(Path(self.temp_dir) / f"{name}.log", "wb") as out:  # the child keeps its own copy
            return subprocess.Popen(
                [self._ray, "start", *args, *common], env=self._env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def add_worker(self, sandboxes: int = 1) -> subprocess.Popen[bytes]:
        """Start a worker node offering ``sandboxes`` slots; it joins within seconds (not waited for)."""
        proc = self._start(
            f"worker{len(self.workers)}",
            f"--address={self.address}",
            f'--resources={{"{RESOURCE}": {sandboxes}}}',
        )
        self.workers.append(proc)
        return proc

    @staticmethod
    def kill_node(proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a node as a lost machine dies: its process group and every process under it.

        Ray's workers (the actors, with their sandboxes) run in sessions of their own under the
        raylet: killing the process group alone would leave them serving the driver for a while.
        """
        doomed = descendants(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)

    def processes(self) -> list[tuple[int, str]]:
        """Return (pid, command) of the live processes of this cluster (zombies excluded)."""
        return marked_processes(self.id)

    def close(self, grace_s: float = 3.0) -> list[tuple[int, str]]:
        """Stop every node (SIGTERM, then SIGKILL after ``grace_s``); return what outlived them.

        Waits up to 20 s for the cluster's processes to go; any still there are killed and
        returned, so a caller can fail loudly without leaving them running.
        """
        nodes = [*self.workers, *([self.head] if self.head is not None else [])]
        for proc in nodes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in nodes:
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.kill_node(proc)
        deadline = time.monotonic() + 20
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        left = self.processes()
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return left

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        left = self.close()
        if left and exc is None:
            lines = "\n".join(f"  {pid}: {cmd[:150]}" for pid, cmd in left)
            raise RuntimeError(f"processes of the local Ray cluster outlived it (killed now):\n{lines}")
