"""``cua explore --app APP``: invent and prove tasks in an application, unattended; ``cua explore report``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cua.cli.options import (
    DEFAULT_FORMAT,
    ApiKeyEnv,
    AppFilter,
    AsJson,
    Backend,
    DataDir,
    Endpoint,
    FormatName,
    Model,
    ModelName,
    ModelOptions,
    Parallel,
    PolicyName,
    RayAddress,
    ray_sandboxes,
    sandbox_factory,
)
from cua.errors import UsageError
from cua.explore import ExploreSettings, WalkResult
from cua.service import Service
from cua.synth.compose import PER_WALK
from cua.synth.templates import PER_WALK as TEMPLATES_PER_WALK

explore_app = typer.Typer(
    help="Explore an application: walks from varied seed states, tasks derived and proven from them.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@explore_app.callback()
def explore(
    ctx: typer.Context,
    app: Annotated[
        str | None,
        typer.Option("--app", "-a", help="Application profile to explore (`cua sandbox profiles`)."),
    ] = None,
    episodes: Annotated[
        int | None,
        typer.Option("--episodes", help="Walks in all (a resumed exploration counts its earlier ones)."),
    ] = None,
    hours: Annotated[
        float | None, typer.Option("--hours", help="Wall-clock budget of this run, in hours.")
    ] = None,
    parallel: Parallel = 1,
    seed: Annotated[
        int, typer.Option("--seed", help="The exploration's seed: the same seed resumes it.")
    ] = 0,
    gui_near_misses: Annotated[
        bool, typer.Option(help="Also prove each task against altered demonstrations (slower, stricter).")
    ] = True,
    attempts: Annotated[
        int,
        typer.Option("--attempts", help="Attempts at admitted tasks after each walk (curriculum-picked)."),
    ] = 2,
    policy: PolicyName = "bundled",
    model: Model = None,
    endpoint: Endpoint = None,
    model_name: ModelName = None,
    api_key_env: ApiKeyEnv = None,
    format_name: FormatName = DEFAULT_FORMAT,
    disk: Annotated[
        float | None,
        typer.Option("--disk", help="Disk budget in MB for the data directory; no new walk beyond it."),
    ] = None,
    random_actions: Annotated[
        int, typer.Option("--random-actions", help="Random single actions a task must fail after (trivial).")
    ] = 20,
    composed: Annotated[
        int,
        typer.Option(
            "--composed",
            help="Goal-level tasks composed per walk (keypad arithmetic, file operations); 0: none.",
        ),
    ] = PER_WALK,
    templates: Annotated[
        int,
        typer.Option(
            "--templates",
            help="Template tasks drawn per walk (forms, word replacement, folders, row formulas): "
            "admitted unproven, proven by the first attempt that passes; 0: none.",
        ),
    ] = TEMPLATES_PER_WALK,
    memory: Annotated[
        bool, typer.Option(help="Admit each judged attempt to the experience memory as it ends.")
    ] = True,
    train_every: Annotated[
        int | None,
        typer.Option(
            "--train-every",
            help="Run a learning round (as `cua train`) after every N verified episodes; each gate "
            "decision is reported.",
        ),
    ] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
    backend: Backend = "xvfb",
    ray: RayAddress = None,
) -> None:
    """Run (or resume: the same command continues) an exploration of one application.

    Each walk starts from a fresh seed state, acts on controls it has not tried, and every change it
    makes becomes a candidate task; a candidate is admitted only when its own demonstration, replayed
    from a fresh start, passes, and it fails on the start state, after random single actions, on every
    prefix and on generated near misses. Admitted tasks are task files under DATA_DIR/synth/APP/.
    """
    if ctx.invoked_subcommand is not None:
        return
    if app is None:
        raise UsageError("cua explore needs --app APP (or a subcommand: report)")
    if episodes is None and hours is None:
        episodes = 20
    if episodes is not None and episodes < 1:
        raise UsageError("--episodes must be at least 1")
    if hours is not None and hours <= 0:
        raise UsageError("--hours must be positive")
    if parallel < 1:
        raise UsageError("--parallel must be at least 1")
    if disk is not None and disk <= 0:
        raise UsageError("--disk must be a positive number of MB")
    if attempts < 0:
        raise UsageError("--attempts must be 0 or more")
    if random_actions < 0:
        raise UsageError("--random-actions must be 0 or more")
    if composed < 0:
        raise UsageError("--composed must be 0 or more")
    if templates < 0:
        raise UsageError("--templates must be 0 or more")
    if train_every is not None and train_every < 1:
        raise UsageError("--train-every must be at least 1")
    built = None
    if model is not None or endpoint is not None:
        built = ModelOptions.of(model, endpoint, model_name, api_key_env, format_name).make_policy()
        if policy == "bundled":  # the default: a model given means the model attempts
            policy = "model"
    settings = ExploreSettings(
        app,
        seed=seed,
        episodes=episodes,
        hours=hours,
        parallel=parallel,
        random_actions=random_actions,
        gui_near_misses=gui_near_misses,
        composed=composed,
        templates=templates,
        attempts=attempts,
        memory=memory,
        policy=policy,
        disk_mb=disk,
        train_every=train_every,
    )

    bar = ProgressBar(settings) if sys.stdout.isatty() and not as_json else None

    def progress(result: WalkResult, summary: dict[str, Any]) -> None:
        line = (
            f"walk {result.number}: {result.moves} moves, {result.candidates} candidates, "
            f"{len(result.admitted)} admitted ({result.seconds:.1f} s) | "
            f"total: {summary['admitted_tasks']} tasks, "
            f"{summary['task_kinds']} kinds, {summary['walks']} walks"
        )
        if result.attempts:
            passed = sum(ok for _, ok in result.attempts)
            line += f" | attempts {passed}/{len(result.attempts)} passed"
        if result.error:
            line += f" | {result.error}"
        if bar is not None:
            bar.show(line, summary)
        else:
            print(line, file=sys.stderr if as_json else sys.stdout, flush=True)

    try:
        if ray:  # each walker's sandbox in a Ray actor; walks, proofs and records stay here
            with ray_sandboxes(ray, parallel, backend) as make:
                summary = Service(data_dir, sandbox_factory=make).explore(
                    settings, progress=progress, model=built
                )
        else:
            summary = Service(data_dir, sandbox_factory=sandbox_factory(backend)).explore(
                settings, progress=progress, model=built
            )
    finally:
        if bar is not None:
            bar.close()
    summary["exploration"] = settings.exploration_id
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    if summary.get("status") == "failed":
        raise typer.Exit(1)


class ProgressBar:
    """The live status line of ``cua explore`` in a terminal: walk lines scroll above a bar.

    In a pipe there is no bar: each walk is one plain line (see ``explore``).
    """

    WIDTH = 30

    def __init__(self, settings: ExploreSettings) -> None:
        self.settings = settings
        self.started = time.monotonic()

    def fraction(self, walks: int) -> float:
        """Return the share of the budget spent: the larger of walks and wall time."""
        shares = [0.0]
        if self.settings.episodes:
            shares.append(walks / self.settings.episodes)
        if self.settings.hours:
            shares.append((time.monotonic() - self.started) / (self.settings.hours * 3600))
        return min(max(shares), 1.0)

    def show(self, line: str, summary: dict[str, Any]) -> None:
        """Print ``line`` above the bar and redraw the bar with the exploration's figures."""
        done = self.fraction(summary["walks"])
        filled = round(done * self.WIDTH)
        minutes = (time.monotonic() - self.started) / 60
        status = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done:4.0%} "
            f"{summary['walks']} walks, {summary['proven_tasks']} proven, "
            f"{summary['task_kinds']} kinds, attempts {summary['attempt_successes']}/{summary['attempts']}"
            f" | {minutes:.1f} min"
        )
        sys.stdout.write(f"\r\033[K{line}\n{status}")
        sys.stdout.flush()

    def close(self) -> None:
        """End the bar's line, so what follows starts on a line of its own."""
        sys.stdout.write("\n")
        sys.stdout.flush()


def _print_summary(summary: dict[str, Any]) -> None:
    print(
        f"{summary['exploration']}: {summary['status']}; {summary['walks']} walks, "
        f"{summary['candidates']} candidates, {summary['admitted_tasks']} admitted "
        f"({summary['task_kinds']} kinds, {summary['chains_3plus']} chains of 3+)"
    )
    for reason, count in sorted(summary["rejected"].items(), key=lambda kv: -kv[1]):
        print(f"  rejected {count:4d}: {reason}")
    for r in summary.get("learning_rounds", []):
        print(f"  learning round: {r['model']} {'PROMOTED' if r['promoted'] else 'kept the current policy'}: "
              f"{r['reason']}")  # fmt: skip
    if summary.get("memory_items") is not None:
        print(f"  memory: {summary['memory_admitted']} attempts admitted, {summary['memory_items']} items")
    if summary.get("memory_failed"):
        print(f"  memory: {summary['memory_failed']} attempts could not be admitted (see the log)")
    if summary.get("budget_spent"):
        print(f"  budget spent: {summary['budget_spent']}")
    if summary.get("error"):
        print(f"  error: {summary['error']}")


@explore_app.command("report")
def report(
    app: AppFilter = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write the full report (plots, screenshots) to this file.")
    ] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Summarise every exploration in the data directory (admitted tasks, kinds, rejections)."""
    if html_file is not None:
        written = Service(data_dir).explore_report(html_file, app=app)
        print(f"wrote {written}")
        return
    found = [e for e in Service(data_dir).explorations() if app is None or e["app"] == app]
    if as_json:
        print(json.dumps(found, indent=2))
        return
    if not found:
        print("no explorations yet: run `cua explore --app APP`")
        return
    for e in found:
        _print_summary({**e["summary"], "exploration": e["id"], "status": e["status"]})
