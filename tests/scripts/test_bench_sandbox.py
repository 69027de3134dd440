"""Smoke-run scripts/bench_sandbox.py as a subprocess with tiny budgets; check its one JSON object."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_sandbox.py"
REQUIRED = (
    "cold_start_s",
    "reset_s",
    "screenshot_ms",
    "action_ms",
    "step_ms",
    "settle_ms",
    "rss_mb_per_sandbox",
    "max_parallel",
    "steps_per_s_parallel",
    "paint_step_ms",
    "early_settle_rate",
    "pss_mb_per_sandbox",
    "paint_steps_per_s_parallel",
    "paint_cpu_ms_per_step_parallel",
)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.x11
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bench_sandbox_quick_prints_every_key_as_a_number() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--cold-runs", "1"],
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)  # stdout is exactly one JSON object; progress is on stderr
    for key in REQUIRED:
        assert is_number(result.get(key)), f"{key}: {result.get(key)!r}"
    assert result["cold_start_s"] > 0 and result["screenshot_ms"] > 0
    assert result["max_parallel"] >= 1, result["details"]["parallel_levels"]
    assert result["steps_per_s_parallel"] > 0
    assert set(result["targets"]) <= set(result) and set(result["met"]) == set(result["targets"])
    machine = result["machine"]
    assert is_number(machine["nproc"]) and all(is_number(x) for x in machine["load_avg_start"])
    assert result["params"]["quick"] is True
    assert result["settle_mode"] in ("damage", "poll")
    assert result["paint_steps_per_s_parallel"] > 0
    assert set(result["pss_mb_per_sandbox_parallel"]) == {"mousepad", "galculator"}  # --quick: no chromium
    assert set(result["details"]["settle"]["step_settled_by"]) <= {"calm", "quiet", "idle", "max", "poll"}
    assert "[bench_sandbox" in proc.stderr


def test_bench_sandbox_help_lists_the_config_fields() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--quick", "--parallel-levels", "--throughput-sandboxes", "--settle-s"):
        assert flag in proc.stdout
    assert "Upper bound of the settle wait" in proc.stdout  # help text comes from the field docstrings
