"""``cua eval``: run a task suite with a policy in a sandbox pool and print success tables."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from cua.cli.memory import KeyScreens, open_memory
from cua.errors import UsageError
from cua.eval.suite import Episode, evaluate, select_tasks
from cua.models.registry import DEFAULT_FORMAT, make_policy
from cua.policies.baselines import NoopPolicy, RandomPolicy
from cua.policies.oracle import OraclePolicy
from cua.policy import Policy, PolicyInput, PolicyOutput
from cua.store import TrajectoryStore
from cua.tasks import TaskSpec
from sandbox.base import Sandbox

POLICIES = ("oracle", "noop", "random", "model")


class _Shared:
    """One model instance shared by the parallel episodes (one generation at a time)."""

    def __init__(self, policy: Any) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self.name = policy.name
        self.format_name = policy.format_name
        self.output_format = getattr(policy, "output_format", None)

    def act(self, inp: PolicyInput) -> PolicyOutput:
        with self._lock:
            out: PolicyOutput = self._policy.act(inp)
            return out

    def provenance(self) -> dict[str, Any]:
        info: dict[str, Any] = self._policy.provenance()
        return info


def eval_command(
    suite: Annotated[
        str,
        typer.Option(
            help="all, train, eval (held out), an application, a family id, or a task file or a "
            "folder of task files (all the tasks in it)."
        ),
    ] = "all",
    policy: Annotated[str, typer.Option(help=f"One of {', '.join(POLICIES)}.")] = "oracle",
    parallel: Annotated[int, typer.Option(help="Sandboxes running at once.")] = 2,
    instances: Annotated[int | None, typer.Option(help="At most this many tasks per family.")] = None,
    slow: Annotated[bool, typer.Option(help="Include LibreOffice and Chromium tasks.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the random policy and of sampling.")] = 0,
    model: Annotated[Path | None, typer.Option(help="--policy model: local checkpoint directory.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="--policy model: OpenAI-compatible base URL.")] = None,
    model_name: Annotated[str | None, typer.Option(help="--policy model: model id at --endpoint.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable with the endpoint's key.")
    ] = None,
    format_name: Annotated[str, typer.Option("--format", help="The model's output format.")] = DEFAULT_FORMAT,
    data_dir: Annotated[Path | None, typer.Option(help="Where episodes are recorded.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    memory: Annotated[
        str, typer.Option(help="on: retrieve verified experience into prompts (never of the evaluated task).")
    ] = "off",
    encoder: Annotated[
        str, typer.Option(help="Memory's text encoder: static (fast, the default) or minilm.")
    ] = "static",
    key_screenshots: KeyScreens = 0,
) -> None:
    """Evaluate a policy on a task suite: every episode recorded, validators decide success."""
    if policy not in POLICIES:
        raise UsageError(f"unknown --policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if parallel < 1:
        raise UsageError("--parallel must be at least 1")
    tasks = select_tasks(suite, instances=instances, include_slow=slow)
    if not tasks:
        raise UsageError(f"suite {suite!r} has no tasks with these options")
    if memory not in ("on", "off"):
        raise UsageError("--memory is on or off")
    shared: _Shared | None = None
    if policy == "model":
        shared = _Shared(make_policy(model, endpoint, model_name, format_name, api_key_env))

    def factory(task: TaskSpec, sandbox: Sandbox, episode_seed: int) -> Policy:
        if policy == "oracle":
            return OraclePolicy(task, sandbox)
        if policy == "noop":
            return NoopPolicy()
        if policy == "random":
            return RandomPolicy(episode_seed)
        assert shared is not None
        return shared

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, TextColumn("{task.description}"), transient=as_json, disable=as_json)
    with TrajectoryStore(data_dir) as store:
        memory_factory = None
        if memory == "on":
            from cua.tasks import builtin_families

            held_out = frozenset(f.id for f in builtin_families() if f.split == "eval")
            open_hook = open_memory("on", store, encoder=encoder, key_screenshots=key_screenshots,
                                    held_out=held_out)  # fmt: skip
            assert open_hook is not None

            def memory_factory(task: TaskSpec) -> Any:
                return open_hook(task.app, task.id)

            if not as_json:
                typer.echo(
                    f"memory on: {store.data_dir / 'memory'}; the evaluated task's own runs and the "
                    f"{len(held_out)} held-out families are never retrieved"
                )
        with progress:
            bar = progress.add_task("", total=len(tasks))

            def done(ep: Episode) -> None:
                mark = "pass" if ep.passed else ("ERROR" if ep.error else "fail")
                progress.update(bar, advance=1, description=f"{ep.task}: {mark}")
                if not as_json:
                    progress.console.print(
                        f"  {mark:5} {ep.task:36} {ep.steps:3d} steps {ep.wall_s:6.1f} s  {ep.run_id}"
                    )

            report = evaluate(
                tasks, factory, policy_name=policy, suite=suite, parallel=parallel, store=store, seed=seed,
                on_episode=done, memory=memory_factory,
            )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        typer.echo(report.table())
