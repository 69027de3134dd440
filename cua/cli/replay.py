"""``cua replay RUN_ID``: replay a verified run on a fresh sandbox, handing over to a model on divergence."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cua.cli.options import (
    DEFAULT_FORMAT,
    ApiKeyEnv,
    AsJson,
    DataDir,
    Endpoint,
    FormatName,
    Model,
    ModelName,
    ModelOptions,
)
from cua.policy import Policy
from cua.service import Service


def replay_command(
    run_id: Annotated[str, typer.Argument(help="The recorded run to replay (`cua runs list`).")],
    task: Annotated[
        str | None, typer.Option(help="Another instance of the run's task family, e.g. galculator.add/2.")
    ] = None,
    move_window: Annotated[
        bool, typer.Option(help="Move the window by 200 px and resize it by 25 % before replaying.")
    ] = False,
    unverified: Annotated[bool, typer.Option(help="Also replay runs no verdict has passed.")] = False,
    model: Model = None,
    endpoint: Endpoint = None,
    model_name: ModelName = None,
    api_key_env: ApiKeyEnv = None,
    format_name: FormatName = DEFAULT_FORMAT,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Replay a verified run: re-find each target by its locator; on divergence the model takes over.

    Without --model or --endpoint there is no fallback, and a divergence ends the replay as a failure.
    """
    fallback: Policy | None = None
    if model is not None or endpoint is not None:
        fallback = ModelOptions.of(model, endpoint, model_name, api_key_env, format_name).make_policy()
    result = Service(data_dir).replay(
        run_id, task_id=task, fallback=fallback, move_window=move_window, require_verified=not unverified
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=1))
        return
    stats = result.stats
    typer.echo(
        f"{'PASS' if result.passed else 'FAIL'} {result.task}: replayed {stats.replayed} steps of run "
        f"{run_id}, re-located {stats.relocated} targets; new run {result.run_id}"
    )
    if stats.handed_over_at is not None:
        who = "the fallback model" if fallback is not None else "nobody (no fallback model)"
        typer.echo(f"  handed over to {who} at step {stats.handed_over_at}: {stats.reason}")
    for line in result.reasons:
        typer.echo(f"  {line}")
    if not result.passed:
        raise typer.Exit(1)
