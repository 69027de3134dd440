"""The memory benchmark records real runs, admits them and prints its JSON (a small subset)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.x11, pytest.mark.timeout(300)]


def test_bench_memory_on_recorded_runs(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_memory.py"), "--items", "500", "--queries", "5",
           "--no-replay", "--dir", str(tmp_path), "--family", "xterm.touch", "--family", "galculator.add",
           "--family", "mousepad.type-word", "--parallel", "1", "--encoder", "static"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=280, check=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["families"] == 3 and result["queries"] == 3 and result["queries_not_paraphrased"] == []
    recorded = result["recorded"]
    assert recorded["successes_recorded"] == 6 and recorded["pitfalls_recorded"] == 3
    static = result["encoders"]["static"]
    assert (static["success_items"], static["pitfall_items"]) == (6, 3)
    assert result["pitfalls_returned_as_positives"] == 0
    assert result["top3_family_hit"] == 1.0  # three families of three apps: the app alone decides
    assert result["items_stored"] == 500 and result["retrieval_per_step_p50_ms"] > 0
    assert "replay_success" not in result
    # A second run reuses the recordings in the folder.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True, cwd=ROOT)
    assert "reusing the recordings" in again.stderr
