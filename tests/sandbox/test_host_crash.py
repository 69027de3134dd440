"""kill -9 of the host process leaves no sandbox process behind, and its files are reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sandbox import XvfbSandbox
from tests.sandbox.procs import sandbox_processes

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]

CHILD = """
import sys, time
from sandbox import XvfbSandbox
boxes = [XvfbSandbox() for _ in range(2)]
for box in boxes:
    box.reset("xterm")
print(" ".join(f"{b.id}:{b.host_pids()[0]}:{b.host_pids()[1]}" for b in boxes), flush=True)
time.sleep(600)
"""


def test_kill_9_of_the_host_kills_every_sandbox_process() -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, cwd=root, env=dict(os.environ)
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert len(line) == 2, "the child did not start its sandboxes"
    ids = [item.split(":")[0] for item in line]
    host_pids = [int(p) for item in line for p in item.split(":")[1:]]
    assert all(sandbox_processes(i) for i in ids), "no processes found inside the sandboxes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (any(sandbox_processes(i) for i in ids) or _alive(host_pids)):
        time.sleep(0.1)
    assert not any(sandbox_processes(i) for i in ids), "processes inside a sandbox survived the host"
    assert not _alive(host_pids), "Xvfb or bwrap survived the host"
    leftovers = list(Path(tempfile.gettempdir()).glob(f"cua-sbx-{ids[0]}-*"))
    assert leftovers, "expected the dead host's runtime folder to still exist before reaping"
    XvfbSandbox().close()  # creating a sandbox reaps folders of dead owners
    assert not any(Path(tempfile.gettempdir()).glob(f"cua-sbx-{ids[0]}-*"))


def _alive(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                return True
        except OSError:
            continue
    return False
