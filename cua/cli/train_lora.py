"""``cua train-lora``: a LoRA adapter for a local Qwen-VL checkpoint, from the agent's own verified runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cua.cli.options import (
    DEFAULT_FORMAT,
    AsJson,
    DataDir,
    FormatName,
    HistoryScreenshots,
    MaxPixels,
    MinPixels,
    Model,
)
from cua.errors import TrainingError, UsageError

#: What to do when there is nothing to train on (said by every such UsageError).
EXPLORE_FIRST = "explore first with `cua explore --app APP`; only verified runs of synthesized tasks train"


def train_lora_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output folder: run.json, checkpoints/ and the adapter (adapter/) go there."
        ),
    ],
    model: Model = None,
    format_name: FormatName = DEFAULT_FORMAT,
    epochs: Annotated[
        int, typer.Option("--epochs", help="Passes over the examples (ignored with --max-steps).")
    ] = 1,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps", help="Optimiser steps in all, resumed ones included (default: from --epochs)."
        ),
    ] = None,
    learning_rate: Annotated[
        float, typer.Option("--learning-rate", help="AdamW peak learning rate (linear decay to 0).")
    ] = 2e-4,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank of every adapted projection.")] = 8,
    history_screenshots: HistoryScreenshots = 2,
    min_pixels: MinPixels = None,
    max_pixels: MaxPixels = None,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Delete the checkpoints under --out and train from the start."),
    ] = False,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Train a LoRA adapter for a local Qwen2.5-VL/Qwen3-VL checkpoint (--model) on verified experience.

    One example per agent step of every run of a task `cua explore` synthesized that its
    validator verified as a success: the prompt rebuilt exactly as the policy saw it, the reply
    the run's actions written in --format. Built-in tasks never train (they are evaluation only);
    failed or unverified runs are skipped, and the counts say how many. Training continues from
    the checkpoints already under --out when they are of the same run (--restart starts over).

    The adapter lands in OUT/adapter. Serve it with cua.learn.lora.load_lora_policy(MODEL,
    OUT/adapter, FORMAT), or merge it into a plain checkpoint with cua.learn.lora.merge_lora(MODEL,
    OUT/adapter, MERGED) and run that with `cua run --model MERGED --format FORMAT`, with the same
    --min-pixels/--max-pixels.
    """
    from cua.explore.db import ExploreDB
    from cua.explore.rounds import listed_tasks
    from cua.formats import get_format
    from cua.learn.lora import LoraTrainConfig, lora_examples, serving_resize, train_lora
    from cua.store import TrajectoryStore, resolve_data_dir

    if model is None:
        raise UsageError("cua train-lora needs --model DIR: the local Qwen-VL checkpoint to adapt")
    try:
        get_format(format_name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    data = resolve_data_dir(data_dir)
    explored = data / "explore.sqlite"
    if not explored.is_file():
        raise UsageError(f"no explorations in {data}: {EXPLORE_FIRST}")
    if not model.is_dir():
        raise UsageError(f"--model {model} is not a directory; pass a local Qwen-VL checkpoint directory")
    resize = serving_resize(model, format_name, min_pixels=min_pixels, max_pixels=max_pixels)
    db = ExploreDB(explored)
    try:
        listed = listed_tasks(db)
    finally:
        db.close()
    with TrajectoryStore(data) as store:
        examples, counts = lora_examples(
            store, listed, format_name, history_screenshots=history_screenshots, **resize
        )
    if not examples:
        raise UsageError(f"no training example in {data} ({_counts_line(counts)}): {EXPLORE_FIRST}")
    try:
        config = LoraTrainConfig(
            rank=rank,
            learning_rate=learning_rate,
            epochs=epochs,
            max_steps=max_steps,
            min_pixels=resize["min_pixels"],
            max_pixels=resize["max_pixels"],
        )
    except ValueError as exc:
        raise UsageError(str(exc).replace("LoraTrainConfig.", "--").replace("_", "-")) from None
    if not as_json:
        typer.echo(f"training on {len(examples)} examples ({_counts_line(counts)})")
    try:
        result = train_lora(model, examples, out, config, resume=not restart)
    except TrainingError as exc:
        if "different run" in str(exc):
            raise UsageError(f"{exc}; on the command line: add --restart, or pass another --out") from None
        raise
    report: dict[str, Any] = {
        "adapter_dir": str(result.adapter_dir),
        "base_checkpoint": str(model),
        "format": format_name,
        "examples": len(examples),
        "steps": result.steps,
        "losses": result.losses,
        "trainable_params": result.trainable_params,
        "counts": counts,
        **resize,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    losses = result.losses
    if losses:
        typer.echo(
            f"loss {losses[0]:.4f} -> {losses[-1]:.4f} (min {min(losses):.4f}) over {result.steps} steps; "
            f"{result.trainable_params} trainable parameters"
        )
    typer.echo(f"adapter: {result.adapter_dir}")
    for key, value in counts.items():
        typer.echo(f"  {key}: {value}")


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in counts.items())
