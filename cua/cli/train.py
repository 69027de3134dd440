"""``cua train``: one learning round on this data directory's own experience, gated before promotion."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cua.cli.options import AsJson, DataDir
from cua.service import Service


def train_command(
    epochs: Annotated[int, typer.Option(help="Passes over the training rows.")] = 40,
    alpha: Annotated[float, typer.Option(help="Significance level of the gate's paired sign test.")] = 0.05,
    gate_instances: Annotated[
        int, typer.Option(help="Most held-out synthesized tasks the gate runs (it may stop earlier).")
    ] = 60,
    aux_weight: Annotated[float, typer.Option(help="Weight of the early-experience loss (0: off).")] = 0.2,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Train a candidate bundled policy on verified experience; promote it only if the gate says so.

    Rows come from the tasks `cua explore` synthesized and proved (their demonstrations and the
    verified attempts at them), never from built-in tasks. About a quarter of the synthesized tasks
    are held out: the candidate and the current policy run the same held-out instances with the
    same seeds, a one-sided exact sign test decides at --alpha, and the candidate must not fail
    more of the fixed regression set. `cua models list` shows every candidate and decision.
    """
    from cua.explore.rounds import RoundSettings
    from cua.learn.gate import GateConfig
    from cua.learn.train import TrainConfig

    settings = RoundSettings(
        train=TrainConfig(epochs=epochs, aux_weight=aux_weight),
        gate=GateConfig(alpha=alpha, max_instances=gate_instances),
    )
    say = (lambda _: None) if as_json else typer.echo
    report = Service(data_dir).train(settings, progress=say)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=1))
        return
    verdict = "PROMOTED" if report.promoted else "kept the current policy"
    typer.echo(f"model {report.model_id} (parent {report.parent}): {verdict}")
    typer.echo(f"rows {report.rows} new + {report.replayed} replayed; train accuracy "
               f"{report.train.get('accuracy', 0):.2f}; {report.seconds:.0f} s")  # fmt: skip
