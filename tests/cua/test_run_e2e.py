"""`cua run` end to end: the bundled policy, and a transformers model directly and through a loopback server.

Without --model or --endpoint, `cua run` runs the bundled policy shipped in the repository
(``cua.policies.bundled``); the test checks that it runs, is judged and is recorded, not that it
succeeds (the shipped weights change as they are retrained).

The transformers model is the project's tiny Qwen2.5-VL checkpoint, overfit in CPU seconds by
``scripts/build_tiny_model.py --overfit ui-tars-1.5`` to answer one synthetic step (a dialog with
an OK button) with a click on OK, then overfit a little more (:func:`steady`) to give that same
reply on a few other synthetic screens, with this file's instruction and with history, so that it
gives it on any screen. It is trained on no built-in task and imitates no oracle; on galculator
its fixed reply is parsed and executed as a click. These tests check the plumbing (the model
loads, its reply is parsed and acted on, the run and its provenance are recorded), not success.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cua.store import Run, Step, TrajectoryStore

pytestmark = [pytest.mark.x11, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
INSTRUCTION = "Press the button 7 on the calculator."


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("tiny") / "model"
    done = subprocess.run(
        [sys.executable, "scripts/build_tiny_model.py", str(out), "--overfit", "ui-tars-1.5"],
        capture_output=True, text=True, cwd=ROOT, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    info: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    steady(Path(str(info["model_dir"])), int(str(info["min_pixels"])), int(str(info["max_pixels"])))
    return info


def steady(model_dir: Path, min_pixels: int, max_pixels: int) -> None:
    """Overfit the demo model further so that it gives its one reply on screens it has not seen.

    Overfit on the demo step alone, the tiny model garbles its reply on any other screen. Two more
    synthetic examples with the same target (random pixels with INSTRUCTION; the dialog inverted,
    with INSTRUCTION and the first reply as history) make the reply hold on a real application.
    """
    from PIL import Image

    from cua.actions import Click
    from cua.models.overfit import OverfitExample, demo_input, overfit
    from cua.models.transformers_policy import TransformersPolicy
    from cua.policy import HistoryItem, PolicyInput

    policy = TransformersPolicy(model_dir, "ui-tars-1.5", min_pixels=min_pixels, max_pixels=max_pixels)
    first = demo_input()
    size = first.screen_size
    reply = policy.output_format.render([Click(640, 400)], size, first.screenshot.size, thought="I click OK.")
    noise = Image.frombytes("RGB", size, random.Random(0).randbytes(size[0] * size[1] * 3))
    inverted = first.screenshot.point(lambda v: 255 - v)
    inputs = [
        first,
        PolicyInput(INSTRUCTION, noise, size),
        PolicyInput(INSTRUCTION, inverted, size, history=[HistoryItem(reply, first.screenshot)], step=1),
    ]
    overfit(policy.model, [OverfitExample(policy.messages(i), reply) for i in inputs])
    policy.model.save(model_dir)


def cua(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cua", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)  # fmt: skip


def pixels(info: dict[str, object]) -> list[str]:
    return ["--min-pixels", str(info["min_pixels"]), "--max-pixels", str(info["max_pixels"])]


def recorded(out: subprocess.CompletedProcess[str], data: Path) -> tuple[Run, list[Step]]:
    """Return the run `out` printed the id of, and its steps, once `out` exited 0."""
    assert out.returncode == 0, out.stdout + out.stderr
    found = re.search(r"run id: (\S+)", out.stdout)
    assert found, out.stdout
    with TrajectoryStore(data) as store:
        return store.get_run(found.group(1)), list(store.steps(found.group(1)))


def check_model_run(out: subprocess.CompletedProcess[str], data: Path) -> Run:
    """The tiny model's fixed reply was parsed and executed, and the run recorded with its provenance."""
    run, steps = recorded(out, data)
    assert run.provenance.prompt_format == "ui-tars-1.5"
    assert steps and all(s.raw_output and s.raw_output.startswith("Thought:") for s in steps), steps
    assert steps[0].action is not None and steps[0].action["type"] == "click", steps[0]
    return run


def test_cua_run_with_a_local_checkpoint(tiny_model: dict[str, object], tmp_path: Path) -> None:
    out = cua("run", INSTRUCTION, "--app", "galculator", "--model", str(tiny_model["model_dir"]),
              *pixels(tiny_model), "--batch", "--max-steps", "2", "--data-dir", str(tmp_path))  # fmt: skip
    run = check_model_run(out, tmp_path)
    assert run.provenance.checkpoint and len(run.provenance.checkpoint) >= 16  # a content hash


def test_a_free_run_is_judged_by_the_critic(tiny_model: dict[str, object], tmp_path: Path) -> None:
    out = cua("run", INSTRUCTION, "--app", "galculator", "--model", str(tiny_model["model_dir"]),
              *pixels(tiny_model), "--batch", "--max-steps", "2", "--judge", "self", "--memory", "off",
              "--data-dir", str(tmp_path))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert re.search(r"critic \((heuristic|judge)\): (success|failure|unknown)", out.stdout), out.stdout
    with TrajectoryStore(tmp_path) as store:
        (run,) = store.list_runs()
        verdict = run.verdict
        assert verdict is not None and verdict.source.value in ("heuristic", "judge")
        assert "judge" in verdict.evidence and "heuristics" in verdict.evidence  # the model was asked


@pytest.fixture
def server(tiny_model: dict[str, object]) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, DEMO_KEY="s3cret-for-test")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cua.models.server", "--model", str(tiny_model["model_dir"]),
         "--port", str(port), "--served-name", "demo", "--api-key-env", "DEMO_KEY", *pixels(tiny_model)],
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
    server: str, tiny_model: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_KEY", "s3cret-for-test")
    endpoint = ["--endpoint", server, "--model-name", "demo", "--api-key-env", "DEMO_KEY"]
    out = cua("run", INSTRUCTION, "--app", "galculator", *endpoint, *pixels(tiny_model), "--batch",
              "--max-steps", "2", "--data-dir", str(tmp_path))  # fmt: skip
    run = check_model_run(out, tmp_path)
    assert run.provenance.endpoint and run.provenance.endpoint.startswith(server)
    db = b"".join(p.read_bytes() for p in (tmp_path / "trajectories").iterdir() if p.is_file())
    assert b"s3cret-for-test" not in db


def test_cua_run_without_a_model_runs_the_bundled_policy(tmp_path: Path) -> None:
    out = cua("run", "--task", "galculator.press-digit/0", "--batch", "--data-dir", str(tmp_path))
    assert "validator: " in out.stdout, out.stdout + out.stderr  # the task's validator judged the run
    run, steps = recorded(out, tmp_path)
    assert run.task_id == "galculator.press-digit/0" and run.verdict is not None
    assert run.provenance.model == "bundled" and run.provenance.generation.get("backend") == "bundled"
    assert run.provenance.checkpoint and len(run.provenance.checkpoint) >= 16
    assert steps and steps[0].raw_output and steps[0].raw_output.startswith("bundled {"), steps[:1]


def test_judge_self_needs_a_vlm(tmp_path: Path) -> None:
    out = cua("run", "Press 7", "--app", "galculator", "--judge", "self", "--batch", "--data-dir",
              str(tmp_path), timeout=120)  # fmt: skip
    assert out.returncode == 2 and "--judge self needs a vision-language model" in out.stderr, out.stderr
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr


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
