"""``cua critic ...``: measure a judge against the validators, record a fixed set, overrule verdicts."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cua.cli.options import (
    ApiKeyEnv,
    AsJson,
    DataDir,
    Endpoint,
    FormatName,
    Model,
    ModelName,
    ModelOptions,
    Parallel,
)
from cua.critic.critic import overrule
from cua.critic.judge import ModelJudge
from cua.errors import UsageError
from cua.eval.judge import RunJudgement, evaluate_judge, record_runs, record_tasks
from cua.models.registry import DEFAULT_FORMAT
from cua.policies.scripted import ScriptedPolicy
from cua.store import TrajectoryStore

critic_app = typer.Typer(
    help="Judge runs: evaluate judges against validators, overrule verdicts.", no_args_is_help=True
)

JUDGES = ("heuristic", "scripted", "model")


def _record(store: TrajectoryStore, count: int, parallel: int, quiet: bool) -> None:
    if count < 1:
        raise UsageError("--record needs a number of tasks of at least 1")
    tasks = record_tasks(count)
    if not quiet:
        typer.echo(f"recording oracle, noop and random episodes of {len(tasks)} tasks...", err=True)
    for report in record_runs(store, tasks, parallel=parallel):
        if not quiet:
            typer.echo(
                f"  {report.policy:7} {report.overall.successes}/{report.overall.episodes} passed "
                f"in {report.wall_s:.1f} s",
                err=True,
            )


@critic_app.command("record")
def record_command(
    tasks: Annotated[int, typer.Option(help="How many built-in tasks (apps interleaved, no slow apps).")] = 5,
    parallel: Parallel = 2,
    data_dir: DataDir = None,
) -> None:
    """Record oracle, noop and random episodes of N fixed built-in tasks, scored by their validators."""
    with TrajectoryStore(data_dir) as store:
        _record(store, tasks, parallel, quiet=False)
        typer.echo(f"# recorded into {store.data_dir}")


@critic_app.command("eval")
def eval_command(
    judge: Annotated[str, typer.Option(help=f"One of {', '.join(JUDGES)}.")] = "heuristic",
    data_dir: DataDir = None,
    record: Annotated[
        int | None, typer.Option(help="First record oracle/noop/random episodes of this many tasks.")
    ] = None,
    parallel: Parallel = 2,
    answer: Annotated[
        str, typer.Option(help="--judge scripted: the fixed answer the scripted judge gives.")
    ] = "VERDICT: success",
    model: Model = None,
    endpoint: Endpoint = None,
    model_name: ModelName = None,
    api_key_env: ApiKeyEnv = None,
    format_name: FormatName = DEFAULT_FORMAT,
    as_json: AsJson = False,
    verbose: Annotated[bool, typer.Option(help="Print each run's pair as it is judged.")] = False,
) -> None:
    """Measure a judge against the validators: coverage, confusion matrix, accuracy, Cohen's kappa.

    --judge model takes the model options (--model DIR, or --endpoint URL --model-name NAME).
    """
    if judge not in JUDGES:
        raise UsageError(f"unknown --judge {judge!r}; choose one of {', '.join(JUDGES)}")
    model_options = ModelOptions.of(
        model=model,
        endpoint=endpoint,
        model_name=model_name,
        api_key_env=api_key_env,
        format_name=format_name,
    )
    if judge != "model" and model_options.given:
        raise UsageError("--model and --endpoint go with --judge model")
    model_judge: ModelJudge | None = None
    if judge == "scripted":
        model_judge = ModelJudge(ScriptedPolicy([answer], then="repeat", name="scripted-judge"))
    elif judge == "model":
        if not model_options.given:
            raise UsageError("--judge model needs --model DIR or --endpoint URL --model-name NAME")
        model_judge = ModelJudge(model_options.make_policy())

    def show(row: RunJudgement) -> None:
        if verbose and not as_json:
            mark = {True: "success", False: "failure", None: "unknown"}[row.judge]
            gold = "pass" if row.validator else "fail"
            typer.echo(f"  {row.run_id:14} {row.task_id or '-':30} {gold:4} -> {mark:7} {row.reason[:60]}")

    with TrajectoryStore(data_dir) as store:
        if record is not None:
            _record(store, record, parallel, quiet=as_json)
        result = evaluate_judge(store, model_judge, on_run=show)
    if not result.rows:
        raise UsageError(
            f"no run with a validator verdict in {data_dir or 'the store'}: record some first "
            "(cua critic eval --record 5, or cua critic record)"
        )
    typer.echo(json.dumps(result.to_json()) if as_json else result.table())


@critic_app.command("overrule")
def overrule_command(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    success: Annotated[str, typer.Argument(help="success, failure or unknown.")],
    reason: Annotated[str, typer.Option(help="What the person saw (required).")],
    data_dir: DataDir = None,
) -> None:
    """Record a person's verdict on a run; it becomes the run's current verdict."""
    values = {"success": True, "failure": False, "unknown": None}
    if success not in values:
        raise UsageError(f"the verdict must be success, failure or unknown, not {success!r}")
    with TrajectoryStore(data_dir) as store:
        verdict = overrule(store, run_id, values[success], reason)
        typer.echo(f"run {run_id}: {success} (person), verdict {verdict.id}")
