"""The agent's record survives kill -9 of the agent and stops cleanly on a full disk."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from cua import actions as act
from cua.agent import Agent, AgentConfig, StepEvent
from cua.policies.scripted import ScriptedPolicy
from cua.store import RunStatus, TrajectoryStore
from sandbox.fake import FakeSandbox, FakeScreen

ROOT = Path(__file__).resolve().parents[2]

AGENT_SCRIPT = """
import sys
from cua import actions as act
from cua.agent import Agent, AgentConfig
from cua.policies.scripted import ScriptedPolicy
from cua.store import TrajectoryStore
from sandbox import XvfbSandbox

store = TrajectoryStore(sys.argv[1])
with XvfbSandbox() as sb:
    first = sb.reset("xterm")
    steps = [act.TypeText(f"echo step {i}\\n") for i in range(1000)]
    config = AgentConfig(max_steps=1000, loop_limit=10**6)
    agent = Agent(ScriptedPolicy(steps), sb, store=store, config=config)
    agent.run("count forever", first, app="xterm")
"""


@pytest.mark.x11
@pytest.mark.timeout(120)
def test_kill_9_mid_run_leaves_every_completed_step_and_marks_the_run_interrupted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", AGENT_SCRIPT, str(data)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        recorded = 0
        while time.monotonic() < deadline and recorded < 4:
            time.sleep(0.2)
            if (data / "trajectories" / "trajectories.db").exists():
                with TrajectoryStore(data) as peek:
                    runs = peek.list_runs()
                    recorded = runs[0].step_count if runs else 0
        assert recorded >= 4, "the agent did not record steps"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with TrajectoryStore(data) as store:
        (run,) = store.list_runs()
        assert run.status == RunStatus.INTERRUPTED and run.id in store.recovered
        steps = store.steps(run.id)
        assert len(steps) >= 4
        for i, step in enumerate(steps):
            assert step.index == i and step.action == {"type": "type", "text": f"echo step {i}\n"}
            assert store.screenshot(step.screenshot).size == (1280, 800)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a 3 MiB tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_ends_the_run_as_error_with_completed_steps_intact(small_disk: Path) -> None:
    # Screens of noise so that every step's screenshot is a new, incompressible file.
    size = (320, 240)
    screens = {
        f"s{i}": FakeScreen(Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)), f"screen {i}",
                            on_key={("enter",): f"s{i + 1}"})
        for i in range(60)
    }  # fmt: skip
    sb = FakeSandbox(screens, start="s0", screen=size)
    first = sb.reset("fake")
    store = TrajectoryStore(small_disk, min_free_bytes=0)
    agent = Agent(ScriptedPolicy([act.Key("enter")], then="repeat"), sb, store=store,
                  config=AgentConfig(max_steps=59, record_hits=False))  # fmt: skip
    result = agent.run("fill the disk", first, app="fake")
    assert result.status == RunStatus.ERROR and "disk" in result.summary.lower()
    run = store.get_run(result.run_id)  # type: ignore[arg-type]
    assert run.status == RunStatus.ERROR
    steps = store.steps(run.id)
    assert 0 < len(steps) < 59
    for step in steps:
        assert store.screenshot(step.screenshot).size == size
    store.close()


class BrokenMemory:
    """A memory hook whose retrieval fails on the third step."""

    def __init__(self) -> None:
        self.calls = 0

    def retrieve(self, instruction: str, observation: object, history: object) -> str | None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("the memory index is locked")
        return None


def test_a_memory_hook_that_raises_ends_the_run_as_error_with_its_steps(tmp_path: Path) -> None:
    sb = FakeSandbox()
    with TrajectoryStore(tmp_path / "data") as store:
        agent = Agent(ScriptedPolicy([act.Wait(0.01)], then="repeat"), sb, store=store,
                      config=AgentConfig(max_steps=10, loop_limit=100), memory=BrokenMemory())  # fmt: skip
        result = agent.run("wait", sb.reset("fake"), app="fake")
        assert result.status == RunStatus.ERROR and result.steps == 2
        assert "memory hook" in result.summary and "index is locked" in result.summary
    with TrajectoryStore(tmp_path / "data") as reopened:  # read back from disk
        run = reopened.get_run(result.run_id)  # type: ignore[arg-type]
        assert run.status == RunStatus.ERROR and "index is locked" in run.summary
        assert run.id not in reopened.recovered  # ended by the agent, not found orphaned
        assert [s.index for s in reopened.steps(run.id)] == [0, 1]


def test_an_event_callback_that_raises_ends_the_run_as_error_with_its_steps(tmp_path: Path) -> None:
    sb = FakeSandbox()
    seen: list[int] = []

    def on_step(event: StepEvent) -> None:
        seen.append(event.index)
        if event.index == 1:
            raise ValueError("the viewer closed")

    with TrajectoryStore(tmp_path / "data") as store:
        agent = Agent(ScriptedPolicy([act.Wait(0.01)], then="repeat"), sb, store=store,
                      config=AgentConfig(max_steps=10, loop_limit=100), on_step=on_step)  # fmt: skip
        result = agent.run("wait", sb.reset("fake"), app="fake")
    assert seen == [0, 1]
    assert result.status == RunStatus.ERROR and "step callback" in result.summary
    with TrajectoryStore(tmp_path / "data") as reopened:
        run = reopened.get_run(result.run_id)  # type: ignore[arg-type]
        assert run.status == RunStatus.ERROR and "viewer closed" in run.summary
        assert len(reopened.steps(run.id)) == 2  # the step the callback saw was recorded first


def test_ctrl_c_in_a_callback_ends_the_run_as_cancelled_and_propagates(tmp_path: Path) -> None:
    sb = FakeSandbox()

    def on_step(event: StepEvent) -> None:
        raise KeyboardInterrupt

    with TrajectoryStore(tmp_path / "data") as store:
        agent = Agent(ScriptedPolicy([act.Wait(0.01)], then="repeat"), sb, store=store, on_step=on_step)
        with pytest.raises(KeyboardInterrupt):
            agent.run("wait", sb.reset("fake"), app="fake")
        run = store.get_run(agent.run_id or "")
        assert run.status == RunStatus.CANCELLED and run.step_count == 1
