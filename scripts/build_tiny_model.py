"""Build a tiny Qwen2.5-VL or Qwen3-VL checkpoint offline; optionally overfit it and time one step.

    python scripts/build_tiny_model.py /tmp/tiny                 (or --out /tmp/tiny)
    python scripts/build_tiny_model.py /tmp/tiny --arch qwen3_vl --overfit ui-tars-1.5 --bench 5

--overfit FORMAT teaches the model to answer the demo step (a dialog with an OK button, 1280x800)
with a click on OK in that format, and saves it over the build; --bench N then times N act()
calls of a TransformersPolicy on that step (after one warm-up) and reports the median.
Prints one JSON object on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Args:
    """Command-line settings."""

    arch: str
    """qwen2_5_vl or qwen3_vl."""
    out: Path
    """Directory to write the checkpoint into (created)."""
    overfit: str | None
    """An output format name (cua.formats) to overfit the demo step in, or None."""
    bench: int
    """How many timed act() calls on the demo step (0: no benchmark)."""
    threads: int
    """torch CPU threads."""
    seed: int
    """Seed of the weight initialisation."""


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path, nargs="?", metavar="OUT_DIR", help="output directory (created)")
    parser.add_argument("--out", type=Path, metavar="OUT_DIR", help="the output directory, as an option")
    parser.add_argument("--arch", default="qwen2_5_vl", choices=["qwen2_5_vl", "qwen3_vl"])
    parser.add_argument("--overfit", metavar="FORMAT", help="overfit the demo step in this output format")
    parser.add_argument("--bench", type=int, default=0, metavar="N", help="time N act() calls (median)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weight initialisation")
    ns = parser.parse_args(argv)
    if (ns.out_dir is None) == (ns.out is None):
        parser.error("give the output directory once: OUT_DIR or --out OUT_DIR")
    return Args(ns.arch, ns.out_dir or ns.out, ns.overfit, ns.bench, ns.threads, ns.seed)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from transformers.utils import logging as hf_logging

    from cua.models.overfit import demo_input, fit_demo
    from cua.models.tiny import TinySpec, build_tiny_model
    from cua.models.transformers_policy import TransformersPolicy

    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    spec = TinySpec(arch="qwen3_vl" if args.arch == "qwen3_vl" else "qwen2_5_vl", seed=args.seed)
    min_pixels, max_pixels = spec.pixels()
    result: dict[str, object] = {"arch": args.arch, "model_dir": str(args.out.resolve())}

    started = time.perf_counter()
    build_tiny_model(args.out, spec)
    result["build_s"] = round(time.perf_counter() - started, 3)
    result.update(min_pixels=min_pixels, max_pixels=max_pixels)

    format_name = args.overfit
    if format_name:
        fitted = fit_demo(args.out, format_name, args.out, min_pixels=min_pixels, max_pixels=max_pixels)
        result["overfit"] = {
            "format": fitted.format_name,
            "target": fitted.target,
            "steps": fitted.result.steps,
            "seconds": round(fitted.result.seconds, 3),
            "loss": round(fitted.result.loss, 5),
        }
    if args.bench > 0:
        policy = TransformersPolicy(
            args.out, format_name or "pyautogui", min_pixels=min_pixels, max_pixels=max_pixels
        )
        result["parameters"] = sum(p.numel() for p in policy.model.model.parameters())
        inp = demo_input()
        policy.act(inp)  # warm-up: first-call allocations and lazy imports
        runs = []
        for _ in range(args.bench):
            t0 = time.perf_counter()
            out = policy.act(inp)
            runs.append((time.perf_counter() - t0) * 1000.0)
        result["step_latency_ms"] = {
            "median": round(statistics.median(runs), 2),
            "runs": [round(r, 2) for r in runs],
            "prompt_tokens": out.usage.get("prompt_tokens"),
            "completion_tokens": out.usage.get("completion_tokens"),
            "screenshot": list(inp.screenshot.size),
            "threads": args.threads,
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
