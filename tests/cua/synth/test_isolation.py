"""Synthesis and learning never see the built-in tasks: they run with the suites masked, the module blocked.

The built-in tasks are evaluation only. An exploration (seed state, walk, candidates, admission,
task files) runs here in a bubblewrap mount namespace where cua/tasks/suites is an empty tmpfs,
with an import hook that makes ``import cua.tasks.builtin`` fail. A file with mode 000 would prove
nothing (the tests run as root, who reads it anyway); a mount that hides the folder does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cua.tasks

pytestmark = pytest.mark.x11

SUITES = Path(cua.tasks.__file__).parent / "suites"

INSIDE = r"""
import importlib.abc, json, os, sys, tempfile
from pathlib import Path

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "cua.tasks.builtin":
            raise ImportError("the built-in suite module is blocked in this test")
        return None

sys.meta_path.insert(0, Blocked())
suites = sys.argv[1]
out = {"suites_listing": os.listdir(suites)}
try:
    from cua.tasks import builtin_families
    out["builtin_import"] = "allowed"
except ImportError as exc:
    out["builtin_import"] = f"blocked: {exc}"

from cua.explore import Explorer, ExploreSettings
from sandbox.xvfb import XvfbSandbox

data = Path(tempfile.mkdtemp())
settings = ExploreSettings(sys.argv[2], episodes=1, random_actions=3, gui_near_misses=False)
summary = Explorer(settings, data, XvfbSandbox).run()
out["summary"] = summary
out["task_files"] = sorted(p.name for p in (data / "synth").rglob("*.yaml"))

# The dataset builder and the trainer of the bundled policy, on what the exploration made.
from cua.explore.db import ExploreDB
from cua.explore.rounds import listed_tasks
from cua.learn.dataset import build_rows
from cua.learn.train import TrainConfig, train_bundled
from cua.store import TrajectoryStore

db = ExploreDB(data / "explore.sqlite")
box = XvfbSandbox()
try:
    rows, report = build_rows(lambda: box, listed_tasks(db), TrajectoryStore(data))
finally:
    box.close()
out["rows"] = len(rows)
if rows:
    out["trained_epochs"] = train_bundled(rows, data / "checkpoint", TrainConfig(epochs=2)).epochs_run
out["builtin_loaded"] = "cua.tasks.builtin" in sys.modules
print("RESULT " + json.dumps(out))
"""


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (apt: bubblewrap) is not installed")
@pytest.mark.parametrize("app", ["pcmanfm", "xterm"])  # a tree walk, and a shell walk read by OCR
def test_exploration_runs_with_the_builtin_suites_masked(app: str) -> None:
    argv = ["bwrap", "--dev-bind", "/", "/", "--tmpfs", str(SUITES), "--", sys.executable, "-c", INSIDE]
    done = subprocess.run([*argv, str(SUITES), app], capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["suites_listing"] == []  # the mask works: the suites are not there
    assert out["builtin_import"].startswith("blocked")  # and the module cannot be imported
    assert not out["builtin_loaded"]
    summary = out["summary"]
    assert summary["status"] == "finished" and summary["walks"] == 1, summary
    assert summary["candidates"] >= 1, summary  # synthesis did its work without them
    assert len(out["task_files"]) == summary["admitted_tasks"]
    if out["task_files"]:  # the learner ran on them, still without the built-in tasks
        assert out["rows"] > 0 and out["trained_epochs"] == 2
    assert any(SUITES.glob("*.yaml"))  # outside the namespace nothing was touched
