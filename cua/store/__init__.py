"""The trajectory store: every run recorded step by step, durably, with verdicts and exports.

Runs, steps and verdicts live in SQLite (WAL); screenshots are lossless PNG files named by their
sha256. ``TrajectoryStore`` is the whole surface::

    with TrajectoryStore() as store:                       # $CUA_DATA_DIR or the platform data dir
        run_id = store.start_run(RunInfo(instruction, app, Provenance(model="ui-tars-1.5-7b")),
                                 secrets={"PASSWORD": resolved})
        store.add_step(run_id, StepRecord(thought=..., action={...}), screenshot)  # durable on return
        store.finish_run(run_id, "success", "saved the file", final_screenshot=last)
        store.add_verdict(run_id, "validator", True, reasons=["file saved with the sum"])
    export_html(store, run_id, "run.html")             # also export_folder, export_dataset

Errors are in ``cua.store.errors`` (``StoreFull``, ``RunNotFound``, ...), all ``CuaError``.
"""

from __future__ import annotations

from cua.store.errors import (
    ExportError,
    RunNotFound,
    RunStateError,
    SchemaTooNew,
    ScreenshotMissing,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreLocked,
)
from cua.store.export import export_dataset, export_folder
from cua.store.html_page import export_html
from cua.store.records import (
    Actor,
    DiskUsage,
    GcReport,
    Provenance,
    Run,
    RunInfo,
    RunSource,
    RunStatus,
    Step,
    StepRecord,
    Verdict,
    VerdictSource,
)
from cua.store.redaction import Redactor, placeholder, redact
from cua.store.store import TrajectoryStore, resolve_data_dir

__all__ = [
    "Actor",
    "DiskUsage",
    "ExportError",
    "GcReport",
    "Provenance",
    "Redactor",
    "Run",
    "RunInfo",
    "RunNotFound",
    "RunSource",
    "RunStateError",
    "RunStatus",
    "SchemaTooNew",
    "ScreenshotMissing",
    "Step",
    "StepRecord",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreLocked",
    "TrajectoryStore",
    "Verdict",
    "VerdictSource",
    "export_dataset",
    "export_folder",
    "export_html",
    "placeholder",
    "redact",
    "resolve_data_dir",
]
