"""``cua memory ...``: admit verified runs into experience memory, list, show, query and forget items.

The index lives beside the trajectory store: ``<data dir>/memory/memory.sqlite``. The commands
that run episodes (``cua run``, ``cua eval``) open it for ``--memory`` with
:func:`cua.memory.session.memory_hooks` (a context manager that closes the index) or
:func:`~cua.memory.session.open_memory` (the caller closes what it returns); both are re-exported here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cua.cli.options import AppFilter, DataDir, Encoder, KeyScreens, MemoryMode
from cua.errors import UsageError
from cua.memory.admission import AdmissionConfig, admit
from cua.memory.index import ExperienceIndex, Item
from cua.memory.session import MemoryFactory, memory_hooks, open_memory
from cua.service import Service
from cua.store import TrajectoryStore, resolve_data_dir

memory_app = typer.Typer(
    help="Experience memory: admit verified runs, inspect and forget items.", no_args_is_help=True
)

# Kept importable from here for the commands that imported them before cua.cli.options and
# cua.memory.session existed.
__all__ = ["KeyScreens", "MemoryFactory", "MemoryMode", "memory_app", "memory_hooks", "open_memory"]


def _open(data_dir: Path | None) -> ExperienceIndex:
    return ExperienceIndex.beside(resolve_data_dir(data_dir))


def _line(it: Item) -> str:
    return (
        f"{it.id:>6} {it.kind:8} {it.family[:28]:28} {it.utility:7.2f} {int(it.alpha - 1):>4}/{it.shown:<4} "
        f"{it.support:>4} {len(it.steps):>5}  {' '.join(it.instruction.split())[:50]}"
    )


@memory_app.command("build")
def build(
    data_dir: DataDir = None,
    include_oracle: Annotated[bool, typer.Option(help="Admit oracle runs too.")] = False,
    capacity: Annotated[int, typer.Option(help="Most positive items kept.")] = 50_000,
    pitfall_capacity: Annotated[int, typer.Option(help="Most pitfall items kept.")] = 10_000,
    encoder: Encoder = "static",
) -> None:
    """Admit the store's verified successes (and failures, as pitfalls) into memory; print a JSON report."""
    from cua.models.embed import make_encoder

    root = resolve_data_dir(data_dir)
    text_encoder = make_encoder(encoder)
    with TrajectoryStore(root) as store, ExperienceIndex.beside(root) as index:
        config = AdmissionConfig(include_oracle, capacity, pitfall_capacity)
        report = admit(store, index, text_encoder, config)
        where = {"items": index.count(), "index": str(index.path), "encoder": index.encoder_name}
        typer.echo(json.dumps({**report.to_json(), **where}))


memory_app.command("admit", help="Same as build.")(build)


@memory_app.command("list")
def list_(
    data_dir: DataDir = None,
    kind: Annotated[str | None, typer.Option(help="Only 'success' or 'pitfall' items.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (best utility first).")] = 50,
) -> None:
    """List items, best utility first: id, kind, family, utility, successes/shown, runs, steps."""
    if kind not in (None, "success", "pitfall"):
        raise UsageError(f"--kind must be 'success' or 'pitfall', not {kind!r}")
    with _open(data_dir) as index:
        typer.echo(
            f"{'id':>6} {'kind':8} {'family':28} {'utility':>7} {'won/shown':9} {'runs':>4} {'steps':>5}"
            "  instruction"
        )
        for it in index.items(kind=kind, limit=limit):  # type: ignore[arg-type]
            typer.echo(_line(it))


@memory_app.command("show")
def show(item_id: int, data_dir: DataDir = None) -> None:
    """Show one item: its utility (Beta posterior), steps, reasons and source runs."""
    with _open(data_dir) as index:
        it = index.get(item_id)
        typer.echo(f"item {it.id} ({it.kind}) family {it.family}, app {it.app}, split {it.split}")
        typer.echo(f"instruction: {it.instruction}")
        typer.echo(
            f"utility {it.utility:.3f} = Beta({it.alpha:g}, {it.beta:g}) mean; shown in {it.shown} episodes; "
            f"merged from {it.support} run(s)"
        )
        for i, step in enumerate(it.steps, 1):
            typer.echo(f"  {i}) {step.text()}")
        for reason in it.reasons:
            typer.echo(f"  reason: {reason}")
        typer.echo(f"runs: {', '.join(it.runs) or '-'}")


@memory_app.command("forget")
def forget(
    item_ids: Annotated[list[int] | None, typer.Argument(help="Item ids to delete.")] = None,
    family: Annotated[str | None, typer.Option(help="Delete every item of this family.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Take this recorded run out of memory.")] = None,
    reason: Annotated[str, typer.Option(help="Why (required with --run; kept with the run).")] = "",
    data_dir: DataDir = None,
) -> None:
    """Delete items by id or family, or take one run out; later builds do not bring them back."""
    if not item_ids and family is None and run is None:
        raise UsageError("name item ids, --family FAMILY or --run RUN_ID")
    if run is not None:
        typer.echo(Service(data_dir).memory_forget_run(run, reason))
    if item_ids or family is not None:
        with _open(data_dir) as index:
            n = index.forget(item_ids or []) + (index.forget_family(family) if family else 0)
            typer.echo(f"forgot {n} item(s)")


@memory_app.command("admit-run")
def admit_run(
    run_id: Annotated[str, typer.Argument(help="The recorded run to admit (`cua runs list`).")],
    include_oracle: Annotated[bool, typer.Option(help="Admit an oracle run too.")] = False,
    encoder: Encoder = "static",
    data_dir: DataDir = None,
) -> None:
    """Admit one recorded run (a verified success, or a failure as a pitfall), even one forgotten before."""
    typer.echo(Service(data_dir).memory_admit_run(run_id, include_oracle=include_oracle, encoder=encoder))


@memory_app.command("query")
def query(
    instruction: Annotated[str, typer.Argument(help="The task, as it would be given to the agent.")],
    app: AppFilter = None,
    screenshot: Annotated[
        Path | None, typer.Option(help="A PNG of the first screen (its layout counts in the ranking).")
    ] = None,
    top: Annotated[int, typer.Option(help="How many positives to list.")] = 5,
    budget_tokens: Annotated[int, typer.Option(help="Token budget of the rendered prompt text.")] = 400,
    data_dir: DataDir = None,
    encoder: Encoder = "static",
) -> None:
    """Show what a run would be shown: ranked items (similarity, utility, score) and the prompt text."""
    from PIL import Image, UnidentifiedImageError

    from cua.memory.hook import ExperienceMemory, MemoryConfig
    from cua.memory.render import render
    from cua.models.embed import make_encoder, screen_vector

    screen = None
    if screenshot is not None:
        try:
            with Image.open(screenshot) as image:
                screen = screen_vector(image)
        except (OSError, UnidentifiedImageError) as exc:
            raise UsageError(f"--screenshot {screenshot} is not a readable image: {exc}") from exc
    with _open(data_dir) as index:
        config = MemoryConfig(top_k=top, budget_tokens=budget_tokens)
        mem = ExperienceMemory(index, make_encoder(encoder), app=app, config=config)
        ranked = mem.search(instruction, screen, app=app, limit=max(top, 1))
        typer.echo(f"{'id':>6} {'kind':8} {'family':28} {'sim':>6} {'utility':>7} {'score':>6}  instruction")
        hits = ranked.positives[:top] + ranked.pitfalls[:1]
        items = {it.id: it for it in index.items([h.item_id for h in hits])}
        for h in hits:
            it = items[h.item_id]
            typer.echo(
                f"{it.id:>6} {it.kind:8} {it.family[:28]:28} {h.similarity:6.3f} {h.utility:7.3f} "
                f"{h.score:6.3f}  {' '.join(it.instruction.split())[:50]}"
            )
        text = render(
            [(items[h.item_id], 0) for h in ranked.positives[: config.top_k]],
            [items[h.item_id] for h in ranked.pitfalls[: config.pitfalls]],
            budget_tokens,
        )
        typer.echo("\n" + (text or "(nothing similar enough to show)"))
