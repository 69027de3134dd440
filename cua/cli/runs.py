"""``cua runs ...``: list, show, delete, garbage-collect and export recorded runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cua.cli.options import AppFilter, DataDir
from cua.errors import UsageError
from cua.store import Run, TrajectoryStore, export_dataset, export_folder, export_html

runs_app = typer.Typer(help="Browse, export and clean up recorded runs.", no_args_is_help=True)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _verdict(run: Run) -> str:
    if run.verdict is None:
        return "-"
    mark = {True: "pass", False: "fail", None: "unknown"}[run.verdict.success]
    return f"{mark}({run.verdict.source.value})"


@runs_app.command("list")
def list_(
    data_dir: DataDir = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    app: AppFilter = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 50,
) -> None:
    """List runs, newest first: id, time, status, app, steps, verdict, instruction."""
    with TrajectoryStore(data_dir) as store:
        runs = store.list_runs(status=status, app=app, limit=limit)
        typer.echo(
            f"{'id':14} {'created':19} {'status':11} {'app':16} {'steps':>5} {'verdict':18} instruction"
        )
        for r in runs:
            created = r.created_at.strftime("%Y-%m-%d %H:%M:%S")
            typer.echo(
                f"{r.id:14} {created:19} {r.status.value:11} {r.app[:16]:16} {r.step_count:>5} "
                f"{_verdict(r):18} {' '.join(r.instruction.split())[:60]}"
            )
        typer.echo(f"# {len(runs)} runs in {store.data_dir}")


@runs_app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="Run id.")], data_dir: DataDir = None) -> None:
    """Show one run: provenance, outcome, verdicts and every step."""
    with TrajectoryStore(data_dir) as store:
        r = store.get_run(run_id)
        p = r.provenance
        typer.echo(f"run {r.id}  {r.status.value}  app={r.app}  task={r.task_id or '-'}")
        typer.echo(f"instruction: {r.instruction}")
        typer.echo(f"outcome: {r.summary}")
        typer.echo(
            f"model: {p.model}  checkpoint={p.checkpoint or '-'}  endpoint={p.endpoint or '-'}  "
            f"format={p.prompt_format} v{p.prompt_format_version}  cua={p.cua_version}"
        )
        typer.echo(f"generation: {json.dumps(dict(p.generation), sort_keys=True)}")
        for v in store.verdicts(run_id):
            typer.echo(
                f"verdict [{v.source.value}] success={v.success} score={v.score} {'; '.join(v.reasons)}"
            )
        for s in store.steps(run_id):
            action = json.dumps(dict(s.action), ensure_ascii=False) if s.action else "-"
            thought = " ".join((s.thought or "").split())[:90]
            typer.echo(f"  {s.index:3d}  {action[:90]}")
            if thought:
                typer.echo(f"       thought: {thought}")
            if s.parse_error:
                typer.echo(f"       parse error: {s.parse_error.splitlines()[0][:100]}")
            if s.hit:
                typer.echo(f"       hit: {json.dumps(dict(s.hit), ensure_ascii=False)[:100]}")


@runs_app.command("delete")
def delete(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids to delete.")], data_dir: DataDir = None
) -> None:
    """Delete runs with their steps, verdicts and now-unused screenshots."""
    with TrajectoryStore(data_dir) as store:
        files = freed = 0
        for run_id in run_ids:
            report = store.delete_run(run_id)
            files, freed = files + report.files, freed + report.bytes
        usage = store.disk_usage()
        typer.echo(f"deleted {len(run_ids)} runs, {files} screenshots, {_mb(freed)} freed")
        typer.echo(f"store now uses {_mb(usage.total_bytes)} ({_mb(usage.free_bytes)} free on its disk)")


@runs_app.command("gc")
def gc(data_dir: DataDir = None) -> None:
    """Remove screenshots no run refers to (left by crashes) and report disk use."""
    with TrajectoryStore(data_dir) as store:
        report = store.gc()
        usage = store.disk_usage()
        typer.echo(f"removed {report.files} orphaned files, {_mb(report.bytes)} freed")
        typer.echo(
            f"database {_mb(usage.database_bytes)}, {usage.screenshot_files} screenshots "
            f"{_mb(usage.screenshot_bytes)}, {_mb(usage.free_bytes)} free"
        )


@runs_app.command("export")
def export(
    run_ids: Annotated[list[str] | None, typer.Argument(help="Run ids (or use the filters).")] = None,
    html: Annotated[Path | None, typer.Option(help="Write one self-contained HTML report (one run).")] = None,
    folder: Annotated[Path | None, typer.Option(help="Write runs.jsonl, steps.jsonl and images/.")] = None,
    dataset: Annotated[Path | None, typer.Option(help="Write a Hugging Face dataset (parquet).")] = None,
    status: Annotated[str | None, typer.Option(help="Filter: runs with this status.")] = None,
    app: AppFilter = None,
    data_dir: DataDir = None,
) -> None:
    """Export runs as an HTML report, a plain folder, or a training dataset."""
    if sum(x is not None for x in (html, folder, dataset)) != 1:
        raise UsageError("choose exactly one of --html PATH, --folder DIR, --dataset DIR")
    with TrajectoryStore(data_dir) as store:
        if run_ids:
            runs: list[str | Run] = list(run_ids)
        else:
            if status is None and app is None:
                raise UsageError("give run ids, or a filter (--status, --app) to export many runs")
            runs = list(store.list_runs(status=status, app=app))
        if html is not None:
            if len(runs) != 1 or not run_ids:
                raise UsageError("--html exports one run: give exactly one run id")
            path = export_html(store, run_ids[0], html)
        elif folder is not None:
            path = export_folder(store, runs, folder)
        else:
            assert dataset is not None
            path = export_dataset(store, runs, dataset)
        typer.echo(f"exported {len(runs)} run(s) to {path}")
