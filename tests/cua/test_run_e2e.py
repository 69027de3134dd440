"""`cua run` end to end with a real transformers model, directly and through a loopback OpenAI server.

The model is the project's tiny Qwen2.5-VL checkpoint, taught in CPU seconds to solve a
one-step built-in task by imitating its oracle (``cua.learn.imitation``). The task's
validator, not the agent, decides that it worked.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cua.store import RunStatus, TrajectoryStore

pytestmark = [pytest.mark.x11, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
TASK = "galculator.press-digit/0"


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("demo") / "model"
    done = subprocess.run(
        [sys.executable, "scripts/build_demo_model.py", str(out), "--task", TASK],
        capture_output=True, text=True, cwd=ROOT, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    info: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return info


def cua(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cua", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)  # fmt: skip


def pixels(info: dict[str, object]) -> list[str]:
    return ["--min-pixels", str(info["min_pixels"]), "--max-pixels", str(info["max_pixels"])]


def check_run(out: subprocess.CompletedProcess[str], data: Path) -> None:
    assert out.returncode == 0, out.stdout + out.stderr
    assert "validator: PASS" in out.stdout and "outcome: success" in out.stdout, out.stdout
    run_id = re.search(r"run id: (\S+)", out.stdout).group(1)  # type: ignore[union-attr]
    with TrajectoryStore(data) as store:
        run = store.get_run(run_id)
        assert run.status == RunStatus.SUCCESS and run.task_id == TASK
        assert run.verdict is not None and run.verdict.success is True
        steps = store.steps(run_id)
        assert [s.action["type"] for s in steps] == ["click", "done"]  # type: ignore[index]
        assert steps[0].raw_output and steps[0].raw_output.startswith("Thought:")
        assert run.provenance.prompt_format == "ui-tars-1.5"


def test_cua_run_with_a_local_checkpoint(demo_model: dict[str, object], tmp_path: Path) -> None:
    out = cua("run", "--task", TASK, "--model", str(demo_model["model_dir"]), *pixels(demo_model),
              "--batch", "--data-dir", str(tmp_path))  # fmt: skip
    check_run(out, tmp_path)
    with TrajectoryStore(tmp_path) as store:
        (run,) = store.list_runs()
        assert run.provenance.checkpoint and len(run.provenance.checkpoint) >= 16  # a content hash
    # The verified run becomes experience; the next run is shown it (text and its key screen),
    # and its own verdict settles the item's utility.
    assert '"admitted": 1' in cua("memory", "build", "--data-dir", str(tmp_path), timeout=120).stdout
    again = cua("run", "--task", TASK, "--model", str(demo_model["model_dir"]), *pixels(demo_model),
                "--batch", "--key-screenshots", "1", "--data-dir", str(tmp_path))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "memory: 1 items" in again.stdout and "utility now counts this run" in again.stdout
    listed = cua("memory", "list", "--data-dir", str(tmp_path), timeout=60).stdout.splitlines()[1].split()
    assert listed[4] == "1/1" or listed[4] == "0/1"  # won/shown: shown once, settled either way


def test_a_free_run_is_judged_by_the_critic(demo_model: dict[str, object], tmp_path: Path) -> None:
    out = cua("run", "Press the button 7 on the calculator.", "--app", "galculator", "--model",
              str(demo_model["model_dir"]), *pixels(demo_model), "--batch", "--max-steps", "2",
              "--judge", "self", "--memory", "off", "--data-dir", str(tmp_path))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert re.search(r"critic \((heuristic|judge)\): (success|failure|unknown)", out.stdout), out.stdout
    with TrajectoryStore(tmp_path) as store:
        (run,) = store.list_runs()
        verdict = run.verdict
        assert verdict is not None and verdict.source.value in ("heuristic", "judge")
        assert "judge" in verdict.evidence and "heuristics" in verdict.evidence  # the model was asked


@pytest.fixture
def server(demo_model: dict[str, object]) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, DEMO_KEY="s3cret-for-test")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cua.models.server", "--model", str(demo_model["model_dir"]),
         "--port", str(port), "--served-name", "demo", "--api-key-env", "DEMO_KEY", *pixels(demo_model)],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(20)


def test_cua_run_through_an_openai_compatible_server(
    server: str, demo_model: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_KEY", "s3cret-for-test")
    endpoint = ["--endpoint", server, "--model-name", "demo", "--api-key-env", "DEMO_KEY"]
    out = cua("run", "--task", TASK, *endpoint, *pixels(demo_model), "--batch", "--data-dir", str(tmp_path))
    check_run(out, tmp_path)
    db = b"".join(p.read_bytes() for p in (tmp_path / "trajectories").iterdir() if p.is_file())
    assert b"s3cret-for-test" not in db
    with TrajectoryStore(tmp_path) as store:
        (run,) = store.list_runs()
        assert run.provenance.endpoint and run.provenance.endpoint.startswith(server)


def test_bad_model_arguments_are_one_line(tmp_path: Path) -> None:
    for args, message in (
        (["--model", str(tmp_path / "nope")], "no such directory"),
        (["--model", str(tmp_path)], "no config.json"),
        (["--endpoint", "http://127.0.0.1:9", "--model-name", "m"], "connection refused"),
        (["--endpoint", "http://127.0.0.1:9"], "needs --model-name"),
    ):
        out = cua("run", "press 1", "--app", "galculator", *args, "--data-dir", str(tmp_path), timeout=60)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.strip().count("\n") == 0
