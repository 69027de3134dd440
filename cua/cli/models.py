"""``cua models ...``: the model registry: list and show models, promote one by hand, roll back.

The registry lives in ``<data dir>/models/registry.sqlite`` beside the checkpoints
(:mod:`cua.learn.registry`). The gate's own decisions are recorded by the code that runs it; these
commands are for a person: to look at the lineage and the numbers, to promote a model by hand (the
decision is stored with source "person" and the reason), and to roll back the model in use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cua.cli.options import AsJson, DataDir
from cua.errors import UsageError
from cua.learn.registry import STATUSES, ModelEntry, ModelRegistry
from cua.store import resolve_data_dir

models_app = typer.Typer(
    help="The model registry: list, show, promote by hand, roll back.", no_args_is_help=True
)

Kind = Annotated[str, typer.Option("--kind", help="Kind of model, e.g. bundled (the bundled policy).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (stored with the decision; required).")]


def _open(data_dir: Path | None) -> ModelRegistry:
    return ModelRegistry(resolve_data_dir(data_dir))


def _line(entry: ModelEntry, current: bool) -> str:
    mark = "*" if current else " "
    created = entry.created.strftime("%Y-%m-%d %H:%M")
    return (
        f"{mark}{entry.id:16} {entry.kind:10} {entry.status:10} {created:16} "
        f"{entry.parent or '-':16} {' '.join(entry.note.split())[:40]}"
    )


def _current_ids(registry: ModelRegistry, entries: list[ModelEntry]) -> set[str]:
    """Return the ids of the models in use, one per kind among ``entries``."""
    ids = set()
    for kind in {e.kind for e in entries}:
        current = registry.current(kind)
        if current is not None:
            ids.add(current.id)
    return ids


@models_app.command("list")
def list_(
    data_dir: DataDir = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only models of this kind.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help=f"Only models with this status: {', '.join(STATUSES)}.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List models, oldest first: id, kind, status, registered, parent, note (* marks the one in use)."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    with _open(data_dir) as registry:
        entries = registry.list(kind=kind, status=status)
        current = _current_ids(registry, entries)
        if as_json:
            typer.echo(json.dumps([{**e.as_dict(), "current": e.id in current} for e in entries]))
            return
        typer.echo(f" {'id':16} {'kind':10} {'status':10} {'registered':16} {'parent':16} note")
        for entry in entries:
            typer.echo(_line(entry, entry.id in current))
        typer.echo(f"# {len(entries)} models in {registry.path}")


@models_app.command("show")
def show(
    model_id: Annotated[str, typer.Argument(help="Model id, or a unique prefix of one (e.g. m0003).")],
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Show one model: where it is, its lineage (parent, dataset, config, metrics) and every decision."""
    with _open(data_dir) as registry:
        entry = registry.get(model_id)
        lineage = registry.lineage(entry.id)
        decisions = registry.decisions(entry.id)
        current = registry.current(entry.kind)
    is_current = current is not None and current.id == entry.id
    if as_json:
        out = {
            **entry.as_dict(),
            "current": is_current,
            "lineage": [e.id for e in lineage],
            "decisions": [d.as_dict() for d in decisions],
        }
        typer.echo(json.dumps(out))
        return
    typer.echo(f"model {entry.id}  {entry.kind}  {entry.status}{'  (in use)' if is_current else ''}")
    typer.echo(f"path: {entry.path}")
    typer.echo(f"content: sha256 {entry.content_hash}")
    typer.echo(f"registered: {entry.created.isoformat(timespec='seconds')}")
    typer.echo(f"lineage: {' <- '.join(e.id for e in lineage)}")
    for name, value in (("dataset", entry.dataset), ("config", entry.config), ("metrics", entry.metrics)):
        typer.echo(f"{name}: {json.dumps(dict(value), sort_keys=True)}")
    if entry.note:
        typer.echo(f"note: {entry.note}")
    for d in decisions:
        # A gate's reason already starts with its verdict ("rejected: ..."): do not say it twice.
        said = d.reason if d.reason.startswith(f"{d.action}:") else f"{d.action}: {d.reason or '-'}"
        typer.echo(f"decision {d.time.isoformat(timespec='seconds')} [{d.source}] {said}")


@models_app.command("promote")
def promote(
    model_id: Annotated[str, typer.Argument(help="Model id, or a unique prefix of one.")],
    reason: Reason,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Promote a model by hand: it becomes the one in use for its kind (the decision is stored)."""
    with _open(data_dir) as registry:
        entry = registry.promote(model_id, reason)
    if as_json:
        typer.echo(json.dumps({**entry.as_dict(), "current": True}))
    else:
        typer.echo(f"promoted {entry.id}: now the {entry.kind} model in use")


@models_app.command("rollback")
def rollback(
    reason: Reason,
    kind: Kind = "bundled",
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Retire the model in use for a kind; the one promoted before it is in use again."""
    with _open(data_dir) as registry:
        retiring = registry.current(kind)
        entry = registry.rollback(kind, reason)
    retired = retiring.id if retiring is not None else None
    if as_json:
        typer.echo(json.dumps({"retired": retired, "current": entry.as_dict()}))
    else:
        typer.echo(f"retired {retired}; the {kind} model in use is now {entry.id}")
