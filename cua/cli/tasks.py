"""``cua tasks ...``: list and show the built-in tasks, check task files, import OSWorld tasks.

``check`` is the proof a task file must pass: it loads the file (every format error names the
file and the field), then for each task runs the oracle in a sandbox and prints whether doing
nothing fails, whether each near miss fails and whether the oracle passes, with the
validator's reasons. It exits 1 when a proof fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cua.cli.options import AppFilter
from cua.tasks.builtin import builtin_families, resolve_task
from cua.tasks.nearmiss import generate
from cua.tasks.runner import prove, start, validate
from cua.tasks.spec import LaunchStep, RunStep, TaskSpec, WaitWindowStep, WriteStep, load_path
from sandbox.base import Sandbox

tasks_app = typer.Typer(
    help="Task suites: list, show, check task files, import OSWorld tasks.", no_args_is_help=True
)


@tasks_app.command("list")
def list_tasks(
    split: Annotated[
        str | None, typer.Option(help="Only 'train' or only 'eval' (held-out) families.")
    ] = None,
    app: AppFilter = None,
    tasks: Annotated[bool, typer.Option("--tasks", help="List every task instead of every family.")] = False,
) -> None:
    """List the built-in task families (or tasks) with app, difficulty, split and size."""
    families = [f for f in builtin_families() if split in (None, f.split) and app in (None, f.app)]
    if tasks:
        for family in families:
            for task in family.tasks():
                typer.echo(
                    f"{task.id:34} {task.app:17} d{task.difficulty} {task.split:5}  {task.instruction[:70]}"
                )
    else:
        typer.echo(
            f"{'family':28} {'app':17} {'diff':4} {'split':5} {'tasks':>5} {'actions':>7}  description"
        )
        for f in families:
            first = f.instance(0)
            typer.echo(
                f"{f.id:28} {f.app:17} {f.difficulty:4d} {f.split:5} {f.instances:5d} "
                f"{first.oracle_actions():7d}  {f.description}"
            )
    n_tasks = sum(f.instances for f in families)
    apps = sorted({f.app for f in families})
    held = sum(f.instances for f in families if f.held_out)
    typer.echo(
        f"# {len(families)} families, {n_tasks} tasks ({held} held out), {len(apps)} apps: {', '.join(apps)}"
    )


def _setup_lines(task: TaskSpec) -> list[str]:
    out = []
    for step in task.setup:
        if isinstance(step, WriteStep):
            out.append(f"write {step.path} ({len(step.content)} bytes)")
        elif isinstance(step, RunStep):
            out.append(f"run {' '.join(step.argv)}")
        elif isinstance(step, LaunchStep):
            out.append(f"launch {task.app} {' '.join(step.args)}".rstrip())
        elif isinstance(step, WaitWindowStep):
            out.append(f"wait for a window titled like {step.title!r}")
    return out


@tasks_app.command("show")
def show(
    task_id: Annotated[
        str,
        typer.Argument(
            help="A task id such as galculator.add/2 (a family id means /0), a task file, or FILE#TASK_ID."
        ),
    ],
) -> None:
    """Show one task: instruction, setup, oracle, validator and near misses."""
    family, task = resolve_task(task_id)
    typer.echo(f"id:          {task.id}")
    typer.echo(f"family:      {family.id}  ({family.description})")
    typer.echo(f"app:         {task.app}")
    typer.echo(f"difficulty:  {task.difficulty}   split: {task.split}   max steps: {task.max_steps}")
    typer.echo(f"tags:        {', '.join(task.tags)}")
    typer.echo(f"params:      {json.dumps(dict(task.params), ensure_ascii=False)}")
    typer.echo(f"instruction: {task.instruction}")
    for other in task.paraphrases:
        typer.echo(f"  in other words: {other}")
    typer.echo("setup:")
    for line in _setup_lines(task) or ["(none)"]:
        typer.echo(f"  - {line}")
    made = f", generated: {task.generated}" if task.generated else ""
    typer.echo(f"oracle ({task.oracle_actions()} actions{made}):")
    for step in task.oracle or ():
        typer.echo(f"  - {json.dumps(step.to_json(), ensure_ascii=False)}")
    typer.echo("validator:")
    typer.echo("  " + json.dumps(task.validator.data(), ensure_ascii=False, indent=2).replace("\n", "\n  "))
    typer.echo("near misses:")
    for miss in task.near_misses:
        how = f"before step {miss.before!r}" if miss.before else ""
        if miss.params:
            how += f"params {json.dumps(dict(miss.params), ensure_ascii=False)} "
        if miss.skip:
            how += f"without steps {list(miss.skip)}"
        typer.echo(f"  - {miss.name}: {how.strip()}")
    typer.echo("alternate routes (each must pass):")
    for alt in task.alternates:
        typer.echo(f"  - {alt.name}: {len(alt.oracle)} steps")
    policy = task.side_effects
    if policy.off:
        typer.echo(f"side-effect guard: OFF ({policy.reason})")
    elif policy.allow:
        typer.echo(f"side-effect guard: also allows {list(policy.allow)} ({policy.reason})")
    else:
        typer.echo("side-effect guard: on (nothing under HOME that the checks do not judge may change)")
    if task.provenance:
        typer.echo("provenance:")
        for key, value in task.provenance.items():
            typer.echo(f"  {key}: {json.dumps(value, ensure_ascii=False)}")


@tasks_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="A task file (.yaml, .yml or .json), or a folder of them.")],
    instance: Annotated[int | None, typer.Option(help="Prove only this instance of each family.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Prove every instance (default: instance 0).")] = False,
    family_id: Annotated[str | None, typer.Option("--family", help="Only the family with this id.")] = None,
    near_misses: Annotated[bool, typer.Option(help="Also prove that the near misses fail.")] = True,
    generated: Annotated[
        bool,
        typer.Option(help="Also generate near misses from the task's state diff; each must fail."),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print the oracle log too.")] = False,
) -> None:
    """Validate a task file, then prove its tasks in a sandbox.

    Doing nothing fails, the oracle and every alternate route pass, every listed near miss
    fails, and every near miss generated from the state diff (``cua.tasks.nearmiss``) fails.
    """
    from sandbox.xvfb import XvfbSandbox

    families = [f for f in load_path(file) if family_id in (None, f.id)]
    n_tasks = sum(f.instances for f in families)
    typer.echo(f"{file}: valid, {len(families)} families, {n_tasks} tasks")
    failures = 0
    with XvfbSandbox() as sandbox:
        for family in families:
            indices = range(family.instances) if every else [instance or 0]
            for index in indices:
                if family.instance(index).oracle is None:
                    failures += _check_without_oracle(sandbox, family.instance(index))
                    continue
                proof = prove(sandbox, family, index, near_misses=near_misses)
                text = proof.report()
                if not verbose:
                    text = "\n".join(line for line in text.splitlines() if not line.startswith("     "))
                typer.echo(text)
                for problem in proof.problems():
                    typer.echo(f"  PROBLEM: {problem}")
                bad = not proof.ok
                if generated and proof.ok:
                    made = generate(sandbox, family.instance(index))
                    typer.echo(made.report())
                    bad = not made.ok
                failures += bad
    typer.echo(f"{'FAIL' if failures else 'OK'}: {failures} of the checked tasks not proven")
    if failures:
        raise typer.Exit(1)


def _check_without_oracle(sandbox: Sandbox, task: TaskSpec) -> bool:
    """Show the half of the proof a task without an oracle allows; return whether it failed."""
    start(sandbox, task)
    verdict = validate(sandbox, task, trajectory=())
    good = not verdict.passed
    typer.echo(
        f"{'CHECKED' if good else 'NOT PROVEN'} {task.id}: no oracle, so only 'doing nothing fails' "
        f"is checked: {'fails (good)' if good else 'PASSES (bad)'}"
    )
    for line in verdict.reasons:
        typer.echo(f"    {line}")
    return not good


@tasks_app.command("import-osworld")
def import_osworld(
    paths: Annotated[list[Path], typer.Argument(help="OSWorld task .json files or folders of them.")],
    cache: Annotated[Path | None, typer.Option(help="Folder with the files the tasks download.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write each imported task here as a task file.")] = None,
) -> None:
    """Import OSWorld task JSON and print the coverage report (imported, skipped and why).

    With --out, each imported task is written as OUT/<id>.json with the files it needs (expected
    workbooks) in OUT/<id>.files/, named relatively: the folder can be moved as a whole, and
    `cua eval --suite OUT` or `cua run --task OUT/<id>.json` runs it.
    """
    from cua.tasks.osworld import import_paths, write_task

    report = import_paths(paths, cache)
    typer.echo(report.render())
    if out is not None:
        for result in report.imported:
            write_task(result, out)
        typer.echo(f"wrote {len(report.imported)} task files to {out}")
