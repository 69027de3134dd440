"""``cua replay RUN_ID``: replay a verified run on a fresh sandbox, handing over to a model on divergence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cua.models.registry import DEFAULT_FORMAT, make_policy
from cua.policies.replay import load_recording
from cua.policy import Policy
from cua.replay import replay
from cua.store import TrajectoryStore


def replay_command(
    run_id: Annotated[str, typer.Argument(help="The recorded run to replay (`cua runs list`).")],
    task: Annotated[
        str | None, typer.Option(help="Another instance of the run's task family, e.g. galculator.add/2.")
    ] = None,
    move_window: Annotated[
        bool, typer.Option(help="Move the window by 200 px and resize it by 25 % before replaying.")
    ] = False,
    unverified: Annotated[bool, typer.Option(help="Also replay runs no verdict has passed.")] = False,
    model: Annotated[Path | None, typer.Option(help="Fallback model: local checkpoint directory.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Fallback model: OpenAI-compatible base URL.")] = None,
    model_name: Annotated[str | None, typer.Option(help="Fallback model id at --endpoint.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable with the endpoint's key.")
    ] = None,
    format_name: Annotated[str, typer.Option("--format", help="The fallback model's output format.")] = (
        DEFAULT_FORMAT
    ),
    data_dir: Annotated[Path | None, typer.Option(help="The store holding the run (and the replay).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Replay a verified run: re-find each target by its locator; on divergence the model takes over.

    Without --model or --endpoint there is no fallback, and a divergence ends the replay as a failure.
    """
    from sandbox.xvfb import XvfbSandbox

    fallback: Policy | None = None
    if model is not None or endpoint is not None:
        fallback = make_policy(model, endpoint, model_name, format_name, api_key_env)
    with TrajectoryStore(data_dir) as store:
        load_recording(store, run_id, require_verified=not unverified)  # fails before a sandbox starts
        with XvfbSandbox() as sandbox:
            result = replay(
                store,
                run_id,
                sandbox,
                task_id=task,
                fallback=fallback,
                move_window=move_window,
                require_verified=not unverified,
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
