"""The store's public surface is what ``cua.store.__all__`` lists, and nothing is missing from it."""

from __future__ import annotations

import cua.store


def test_exported_names_are_pinned() -> None:
    assert sorted(cua.store.__all__) == [
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
    for name in cua.store.__all__:
        assert getattr(cua.store, name) is not None
