"""Benchmark the QEMU sandbox: image build, cold boot, snapshot restore, screenshot and action round trips.

Prints ONE JSON object on stdout; progress goes to stderr. Every number is measured through the
public ``QemuSandbox`` API. The image's build time and size are those ``scripts/vm/build_image.sh``
recorded when it built the image (run with ``--build`` to build it first; a cached image is
reported as it was built). The accelerator is reported with why it was chosen: on a machine where
KVM does not work, every figure is TCG's, and KVM figures are not measured (``null``).

    .venv/bin/python scripts/bench_vm.py                 # about 3-6 minutes under TCG
    .venv/bin/python scripts/bench_vm.py --quick         # fewer repetitions
    .venv/bin/python scripts/bench_vm.py --build         # build (or find cached) the test image first

May touch: the VMs it starts itself (all closed before exit); with --build, the image cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sandbox.actions import Move, TypeText
from sandbox.qemu import QemuSandbox, cache_dir, find_image

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Config:
    """What to measure and how much; every field is also a command-line flag."""

    app: str = "xterm"
    """Application profile started at every reset."""
    image: str = ""
    """Image folder (default: the cached test image, then the full one)."""
    cold_runs: int = 2
    """Cold boots (a new sandbox's first reset: boot, snapshot, application) for the median."""
    reset_runs: int = 5
    """Resets of a booted sandbox (snapshot restore, HOME, application) for the median."""
    screenshot_runs: int = 20
    """observe() round trips with a full raw frame (nothing reused) for the median."""
    action_runs: int = 20
    """step(Move) round trips (action, settle, frame) for the median."""
    settle_s: float = 1.0
    """Upper bound of the settle wait passed to every step()."""


def log(msg: str) -> None:
    print(f"[bench_vm] {msg}", file=sys.stderr, flush=True)


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main(cfg: Config, build: bool) -> dict[str, Any]:
    log(f"config: {asdict(cfg)}")
    if build:
        subprocess.run(["bash", str(ROOT / "scripts/vm/build_image.sh")], check=True, stdout=sys.stderr)
    image = find_image(cfg.image or cache_dir() / "test")
    result: dict[str, Any] = {
        "config": asdict(cfg),
        "machine": {"nproc": os.cpu_count(), "load_avg_start": [round(x, 2) for x in os.getloadavg()]},
        "image": {"folder": str(image.folder), **image.info()},
    }

    cold: list[dict[str, float]] = []
    for i in range(cfg.cold_runs):
        t0 = time.monotonic()
        with QemuSandbox(image=image.folder) as sb:
            sb.reset(cfg.app)
            total = (time.monotonic() - t0) * 1000
            cold.append({"total_ms": total, **sb.last_reset_timings})
            result["accel"] = {"used": sb.accel, "why": sb.accel_reason}
        log(f"cold boot {i}: {total:.0f} ms {cold[-1]}")
    result["cold_boot_ms"] = median_ms([c["total_ms"] for c in cold])
    result["cold_boot_splits"] = {
        key: median_ms([c[key] for c in cold]) for key in ("boot_ms", "snapshot_ms", "window_ms")
    }

    with QemuSandbox(image=image.folder) as sb:
        sb.reset(cfg.app)
        resets: list[dict[str, float]] = []
        for i in range(cfg.reset_runs):
            sb.step(TypeText("echo dirty\n"), settle_s=cfg.settle_s)
            t0 = time.monotonic()
            sb.reset(cfg.app)
            resets.append({"total_ms": (time.monotonic() - t0) * 1000, **sb.last_reset_timings})
            log(f"reset {i}: {resets[-1]}")
        result["reset_ms"] = median_ms([r["total_ms"] for r in resets])
        result["reset_splits"] = {
            key: median_ms([r[key] for r in resets])
            for key in ("loadvm_ms", "rewind_ms", "restore_ms", "window_ms")
        }

        shots: list[float] = []
        for _ in range(cfg.screenshot_runs):
            sb._last_image = None  # a full frame from the guest, never "unchanged since"
            t0 = time.monotonic()
            sb.observe()
            shots.append((time.monotonic() - t0) * 1000)
        result["screenshot_ms"] = median_ms(shots)

        steps: list[float] = []
        settle: list[float] = []
        height = sb.screen_size[1]
        for i in range(cfg.action_runs):
            t0 = time.monotonic()
            obs = sb.step(Move(100 + (i % 10) * 50, height // 2), settle_s=cfg.settle_s)
            steps.append((time.monotonic() - t0) * 1000)
            settle.append(float(obs.timings.get("settle", 0.0)))
        result["action_round_trip_ms"] = median_ms(steps)
        result["action_settle_ms"] = median_ms(settle)

        t0 = time.monotonic()
        for _ in range(10):
            sb.exec(["true"])
        result["exec_round_trip_ms"] = round((time.monotonic() - t0) * 100, 1)

    result["kvm"] = None if result["accel"]["used"] != "kvm" else "measured above"
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Config()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--quick", action="store_true", help="one cold boot, fewer repetitions")
    parser.add_argument("--build", action="store_true", help="build (or find cached) the test image first")
    args = vars(parser.parse_args())
    quick, build = args.pop("quick"), args.pop("build")
    cfg = Config(**args)
    if quick:
        cfg = Config(
            **{**asdict(cfg), "cold_runs": 1, "reset_runs": 2, "screenshot_runs": 5, "action_runs": 5}
        )
    print(json.dumps(main(cfg, build)))
