"""Smoke-run scripts/bench_pool.py as a subprocess with tiny budgets; check its one JSON object."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.ray_pool import ray_available

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_pool.py"


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.x11
@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(not ray_available(), reason="ray is not installed: pip install -e '.[ray]'")
@pytest.mark.timeout(240)
def test_bench_pool_quick_compares_both_pools() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--suite", "galculator.press-digit", "--instances", "2",
         "--rounds", "1", "--steps", "3", "--no-kill"],
        capture_output=True, text=True, timeout=230,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = proc.stdout.strip().splitlines()
    out = json.loads(line)
    for key in ("local_episodes_per_min", "ray_episodes_per_min", "ray_over_local", "ray_call_overhead_ms",
                "ray_start_s"):  # fmt: skip
        assert is_number(out[key]), key
    for key in ("lease_ms_local", "lease_ms_ray", "step_ms_local", "step_ms_ray"):
        assert is_number(out[key]["median"]) and out[key]["p95"] >= out[key]["median"], key
    assert out["success"] == {"local": 1.0, "ray": 1.0} and out["episodes_per_pool"] == 2
    assert "ray_lost_episodes" not in out  # --no-kill skips the two-node run
    assert "[bench_pool]" in proc.stderr
