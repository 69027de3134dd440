"""Exporting runs: a Hugging Face ``datasets`` dataset in parquet, and a plain folder of JSON lines.

**Dataset: one row per step.** Fine-tuning consumes steps, not runs: each training example is
"instruction + history + this screenshot -> this thought and action", so rows per step can be
filtered (drop parse errors), shuffled and batched without exploding nested lists, keep parquet
row groups small and even (a run of 50 screenshots would make one huge row), and stream. The
history is rebuilt by grouping on ``run_id`` and ordering by ``step``; run-level facts
(instruction, provenance, status, current verdict) are repeated on every row so a filter such
as "verified successes of model X" needs no join. ``image`` is the screenshot the policy saw,
as the stored PNG bytes (no re-encoding); ``final_image`` (the screen after the last action) is
set on the last step's row only, for training judges. Actions, locators, timings and
generation settings are JSON strings: they are opaque dicts whose keys differ by action type,
and a fixed Arrow struct would either drop keys or fill every row with nulls.

Layout: ``OUT/data/train-00000-of-0000N.parquet`` (shards of about 256 MiB of images) and a
short ``OUT/README.md``; ``datasets.load_dataset("parquet", data_dir=OUT/"data")`` or
``load_dataset(str(OUT))`` reads it back with the Image feature intact.

**Folder**: ``runs.jsonl`` (one run per line with provenance, current verdict and every
verdict), ``steps.jsonl`` (one step per line, ``image`` a relative path), ``images/<sha>.png``
(each distinct screenshot once) -- readable with nothing but a JSON parser.

A destination that cannot be written (a missing parent that cannot be created, no permission,
a file where a folder must be, a folder that is not empty) raises ``ExportError`` naming the
path and what to do; an error while *reading* the store is not dressed up as one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cua.store.errors import ExportError, StoreError
from cua.store.records import Run, Step, Verdict
from cua.store.shots import EXTENSION

if TYPE_CHECKING:
    from cua.store.store import TrajectoryStore

SHARD_BYTES = 256 * 1024 * 1024
"""Image bytes per parquet shard; the Hub's own conversion uses shards of this order."""


def export_error(target: Path, exc: OSError) -> ExportError:
    """Return the one-line error for an OS error while writing the export to ``target``."""
    reason = exc.strerror or str(exc)
    culprit = os.fsdecode(exc.filename) if exc.filename is not None else None
    where = f" ({culprit})" if culprit and Path(culprit) != target else ""
    if isinstance(exc, FileExistsError | NotADirectoryError) and culprit and Path(culprit).is_file():
        reason, where = f"{culprit} is a file, not a folder", ""  # mkdir's "File exists" misleads
    return ExportError(
        f"cannot export to {target}: {reason}{where}; choose a location in a folder that exists "
        "(or can be created) and that you can write to"
    )


def _concerns(name: object, target: Path) -> bool:
    """Return whether an OS error about file ``name`` is about the export's destination."""
    if name is None:
        return True  # e.g. no space left while writing: the destination's disk
    path = Path(os.fsdecode(name)).absolute()  # type: ignore[arg-type]
    target = target.absolute()
    return path == target or target in path.parents or path in target.parents


@contextmanager
def writing_to(target: Path, scope: Path | None = None) -> Iterator[None]:
    """Turn OS errors about the destination into ``ExportError`` naming ``target``.

    An error is about the destination when its file is ``scope`` (default: ``target``), is
    inside it, or is a folder above it; any other OS error (reading the store) passes through.
    """
    try:
        yield
    except OSError as exc:
        if _concerns(exc.filename, target if scope is None else scope):
            raise export_error(target, exc) from exc
        raise


def _prepare(out_dir: Path) -> None:
    with writing_to(out_dir):
        if out_dir.exists() and not out_dir.is_dir():
            raise ExportError(f"cannot export to {out_dir}: it is a file; choose a new or empty folder")
        if out_dir.exists() and any(out_dir.iterdir()):
            raise ExportError(f"export folder {out_dir} is not empty; choose a new or empty folder")
        out_dir.mkdir(parents=True, exist_ok=True)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _verdict_json(verdict: Verdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    data = asdict(verdict)
    data["created_at"] = verdict.created_at.isoformat()
    data["source"] = verdict.source.value
    data["reasons"] = list(verdict.reasons)
    return data


def _runs(store: TrajectoryStore, runs: Iterable[str | Run]) -> Iterator[tuple[Run, list[Step]]]:
    seen: set[str] = set()
    for item in runs:
        run_id = item.id if isinstance(item, Run) else item
        if run_id not in seen:
            seen.add(run_id)
            yield store.get_run(run_id), store.steps(run_id)


def _datasets() -> Any:
    try:
        import datasets  # type: ignore[import-untyped]
    except ImportError as exc:
        raise StoreError(
            "exporting a dataset needs the Hugging Face `datasets` package: pip install datasets==5.2.0 "
            "(or export a plain folder with export_folder)"
        ) from exc
    return datasets


def _features() -> Any:
    from datasets import Features, Image, List, Value

    text = Value("string")
    return Features(
        {
            "run_id": text,
            "step": Value("int32"),
            "num_steps": Value("int32"),
            "is_last": Value("bool"),
            "image": Image(),
            "final_image": Image(),
            "instruction": text,
            "app": text,
            "task_id": text,
            "task_hash": text,
            "thought": text,
            "raw_output": text,
            "action": text,
            "parse_error": text,
            "hit": text,
            "timings": text,
            "window_title": text,
            "started_at": Value("timestamp[us, tz=UTC]"),
            "screenshot_sha256": text,
            "run_status": text,
            "run_summary": text,
            "success": Value("bool"),
            "score": Value("float64"),
            "verdict_source": text,
            "verdict_reasons": List(text),
            "model": text,
            "checkpoint": text,
            "endpoint": text,
            "prompt_format": text,
            "prompt_format_version": text,
            "generation": text,
            "seed": Value("int64"),
            "cua_version": text,
        }
    )


def _row(store: TrajectoryStore, run: Run, step: Step, last: bool, count: int) -> dict[str, Any]:
    prov, verdict = run.provenance, run.verdict
    final = None
    if last and run.final_screenshot:
        final = {
            "bytes": store.screenshot_bytes(run.final_screenshot),
            "path": run.final_screenshot + EXTENSION,
        }
    return {
        "run_id": run.id,
        "step": step.index,
        "num_steps": count,
        "is_last": last,
        "image": {"bytes": store.screenshot_bytes(step.screenshot), "path": step.screenshot + EXTENSION},
        "final_image": final,
        "instruction": run.instruction,
        "app": run.app,
        "task_id": run.task_id,
        "task_hash": run.task_hash,
        "thought": step.thought,
        "raw_output": step.raw_output,
        "action": _json(step.action),
        "parse_error": step.parse_error,
        "hit": _json(step.hit),
        "timings": _json(step.timings),
        "window_title": step.window_title,
        "started_at": step.started_at,
        "screenshot_sha256": step.screenshot,
        "run_status": run.status.value,
        "run_summary": run.summary,
        "success": None if verdict is None else verdict.success,
        "score": None if verdict is None else verdict.score,
        "verdict_source": None if verdict is None else verdict.source.value,
        "verdict_reasons": [] if verdict is None else list(verdict.reasons),
        "model": prov.model,
        "checkpoint": prov.checkpoint,
        "endpoint": prov.endpoint,
        "prompt_format": prov.prompt_format,
        "prompt_format_version": prov.prompt_format_version,
        "generation": _json(dict(prov.generation)),
        "seed": prov.seed,
        "cua_version": prov.cua_version,
    }


_CARD = """# cua trajectories

Exported from a cua trajectory store: {steps} steps of {runs} runs, one row per step.

```python
from datasets import load_dataset
ds = load_dataset("parquet", data_dir="data", split="train")
```

`image` is the screenshot the policy saw (lossless PNG); `thought`, `raw_output` and `action`
(JSON) are what it answered. Run-level columns (instruction, provenance, `run_status`, and the
current verdict: `success`, `score`, `verdict_source`, `verdict_reasons`) repeat on each row;
`final_image` is set on a run's last row. Secrets appear only as `{{{{secret:NAME}}}}`.
"""


def export_dataset(
    store: TrajectoryStore, runs: Iterable[str | Run], out_dir: str | os.PathLike[str]
) -> Path:
    """Write the steps of ``runs`` (ids or ``Run`` records) as parquet shards; return ``out_dir``.

    ``out_dir`` must be missing or empty. Runs without steps contribute no rows.
    """
    out_dir = Path(out_dir)
    datasets = _datasets()
    _prepare(out_dir)
    features = _features()
    # Plan shards from file sizes first, so each shard's rows (with image bytes) are built,
    # written and dropped before the next: memory stays about one shard.
    plan: list[list[tuple[Run, Step, bool, int]]] = [[]]
    size = 0
    nruns = nsteps = 0
    for run, steps in _runs(store, runs):
        nruns += 1
        for step in steps:
            nbytes = store.screenshot_path(step.screenshot).stat().st_size
            if plan[-1] and size + nbytes > SHARD_BYTES:
                plan.append([])
                size = 0
            plan[-1].append((run, step, step.index == steps[-1].index, len(steps)))
            size += nbytes
            nsteps += 1
    data = out_dir / "data"
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # a library call must not draw progress bars on the caller's terminal
    try:
        with writing_to(out_dir):
            data.mkdir()
            for number, shard in enumerate(plan):
                rows = [_row(store, run, step, last, count) for run, step, last, count in shard]
                columns = {name: [row[name] for row in rows] for name in features}
                dataset = datasets.Dataset.from_dict(columns, features=features)
                dataset.to_parquet(str(data / f"train-{number:05d}-of-{len(plan):05d}.parquet"))
            (out_dir / "README.md").write_text(_CARD.format(steps=nsteps, runs=nruns))
    finally:
        if not quiet:
            datasets.enable_progress_bars()
    return out_dir


def _run_json(run: Run, verdicts: list[Verdict]) -> dict[str, Any]:
    prov = asdict(run.provenance)
    prov["generation"] = dict(run.provenance.generation)
    return {
        "id": run.id,
        "created_at": run.created_at.isoformat(),
        "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
        "status": run.status.value,
        "instruction": run.instruction,
        "app": run.app,
        "task_id": run.task_id,
        "task_hash": run.task_hash,
        "provenance": prov,
        "summary": run.summary,
        "final_image": None if run.final_screenshot is None else f"images/{run.final_screenshot}{EXTENSION}",
        "extra": dict(run.extra),
        "step_count": run.step_count,
        "verdict": _verdict_json(run.verdict),
        "verdicts": [_verdict_json(v) for v in verdicts],
    }


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "run_id": step.run_id,
        "index": step.index,
        "started_at": step.started_at.isoformat(),
        "recorded_at": step.recorded_at.isoformat(),
        "image": f"images/{step.screenshot}{EXTENSION}",
        "screenshot_sha256": step.screenshot,
        "thought": step.thought,
        "raw_output": step.raw_output,
        "action": step.action,
        "parse_error": step.parse_error,
        "hit": step.hit,
        "timings": step.timings,
        "window_title": step.window_title,
    }


def export_folder(store: TrajectoryStore, runs: Iterable[str | Run], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``runs`` (ids or ``Run`` records) as ``runs.jsonl``, ``steps.jsonl`` and ``images/``."""
    out_dir = Path(out_dir)
    _prepare(out_dir)
    images = out_dir / "images"
    copied: set[str] = set()

    def copy(sha: str) -> None:
        if sha not in copied:
            shutil.copyfile(store.screenshot_path(sha), images / (sha + EXTENSION))
            copied.add(sha)

    with (
        writing_to(out_dir),
        open(out_dir / "runs.jsonl", "w", encoding="utf-8") as runs_f,
        open(out_dir / "steps.jsonl", "w", encoding="utf-8") as steps_f,
    ):
        images.mkdir()
        for run, steps in _runs(store, runs):
            runs_f.write(json.dumps(_run_json(run, store.verdicts(run.id)), ensure_ascii=False) + "\n")
            if run.final_screenshot:
                copy(run.final_screenshot)
            for step in steps:
                copy(step.screenshot)
                steps_f.write(json.dumps(_step_json(step), ensure_ascii=False) + "\n")
        for f in (runs_f, steps_f):
            f.flush()
            os.fsync(f.fileno())
    return out_dir


__all__ = ["SHARD_BYTES", "export_dataset", "export_error", "export_folder", "writing_to"]
