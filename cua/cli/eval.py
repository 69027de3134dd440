"""``cua eval``: run a task suite with a policy in a sandbox pool and print success tables."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cua.cli.options import (
    DEFAULT_FORMAT,
    ApiKeyEnv,
    AsJson,
    Backend,
    DataDir,
    Encoder,
    Endpoint,
    FormatName,
    KeyScreens,
    MemoryMode,
    Model,
    ModelName,
    ModelOptions,
    Parallel,
    PolicyOrModel,
    RayAddress,
    Seed,
    ray_pool,
    sandbox_pool,
)
from cua.errors import UsageError
from cua.policies.registry import POLICY_NAMES as POLICIES
from cua.policy import Policy
from cua.service import EpisodeDone, EvalStarted, Notice, Service, ServiceEvent


def eval_command(
    suite: Annotated[
        str,
        typer.Option(
            help="all, train, eval (held out), an application, a family id, or a task file or a "
            "folder of task files (all the tasks in it)."
        ),
    ] = "all",
    policy: PolicyOrModel = None,
    parallel: Parallel = 2,
    instances: Annotated[int | None, typer.Option(help="At most this many tasks per family.")] = None,
    slow: Annotated[bool, typer.Option(help="Include LibreOffice and Chromium tasks.")] = True,
    seed: Seed = 0,
    model: Model = None,
    endpoint: Endpoint = None,
    model_name: ModelName = None,
    api_key_env: ApiKeyEnv = None,
    format_name: FormatName = DEFAULT_FORMAT,
    data_dir: DataDir = None,
    as_json: AsJson = False,
    memory: MemoryMode = "off",
    encoder: Encoder = "static",
    key_screenshots: KeyScreens = 0,
    backend: Backend = "xvfb",
    ray: RayAddress = None,
) -> None:
    """Evaluate a policy on a task suite: every episode recorded, validators decide success."""
    given = model is not None or endpoint is not None
    if policy is None:
        policy = "model" if given else "oracle"
    if policy not in POLICIES:
        raise UsageError(f"unknown --policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if given and policy == "bundled":
        policy = "model"  # --model DIR names the bundled checkpoint to use (the options load it)
    if given and policy != "model":
        raise UsageError(
            f"--model/--endpoint give the acting model, but --policy {policy} acts without one: "
            "leave out --policy (or say --policy model) to evaluate the model"
        )

    def model_policy() -> Policy:
        options = ModelOptions.of(model, endpoint, model_name, api_key_env, format_name)
        built: Policy = options.make_policy()
        return built

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, TextColumn("{task.description}"), transient=as_json, disable=as_json)
    bar = progress.add_task("", total=None)

    def show(event: ServiceEvent) -> None:
        if isinstance(event, Notice):
            if not as_json:
                typer.echo(event.text)
        elif isinstance(event, EvalStarted):
            progress.update(bar, total=event.tasks)
            progress.start()
        elif isinstance(event, EpisodeDone):
            ep = event.episode
            mark = "pass" if ep.passed else ("ERROR" if ep.error else "fail")
            progress.update(bar, advance=1, description=f"{ep.task}: {mark}")
            if not as_json:
                progress.console.print(
                    f"  {mark:5} {ep.task:36} {ep.steps:3d} steps {ep.wall_s:6.1f} s  {ep.run_id}"
                )

    # None: the evaluation's own pool of XvfbSandboxes; with --ray, sandboxes in Ray actors.
    pool = ray_pool(ray, parallel, backend) if ray else sandbox_pool(backend, parallel)
    try:
        report = Service(data_dir).evaluate(
            suite, policy, model=model_policy, parallel=parallel, instances=instances, include_slow=slow,
            seed=seed, memory=memory, encoder=encoder, key_screenshots=key_screenshots, pool=pool,
            on_event=show,
        )  # fmt: skip
    finally:
        progress.stop()
        if pool is not None:
            pool.close()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        typer.echo(report.table())
