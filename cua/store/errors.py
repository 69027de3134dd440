"""The data directory's storage exceptions: the trajectory store's, and the SQLite failures it shares.

The whole tree is drawn in ``cua.errors``; this branch is ``CuaError > StoreError``. SQLite
failures of either database in the data directory (the trajectory store, the memory index) are
translated by ``cua.store.sqlite`` into ``StoreFull``, ``StoreLocked``, ``StoreCorrupt`` and
``SchemaTooNew``, so ``except StoreError`` catches every storage failure of both.

Each message says what to do next, because the people reading them are operating an agent, not
debugging SQLite.
"""

from __future__ import annotations

from cua.errors import CuaError


class StoreError(CuaError):
    """Base class of the store's errors, and of either data-directory database's SQLite failures."""


class StoreFull(StoreError):
    """The disk holding the store has too little free space; the failed write left nothing behind.

    Earlier steps are intact, and the run can still be finished (with status ``error``): the
    store keeps a small reserve file that it gives up to make that final write possible.
    """


class StoreLocked(StoreError):
    """Another process held the database's write lock for longer than the busy timeout."""


class StoreCorrupt(StoreError):
    """The database file is damaged or is not a cua database; the message names the file."""


class RunNotFound(StoreError, LookupError):
    """No run with the given id exists in the store."""


class RunStateError(StoreError):
    """The run's status forbids the operation (a step added to a finished run, a running run deleted)."""


class ScreenshotMissing(StoreError, LookupError):
    """A screenshot named by a step is not on disk (deleted by hand, or the disk lost it)."""


class SchemaTooNew(StoreError):
    """The database's schema version is newer than this cua understands; upgrade cua."""


class ExportError(StoreError):
    """The export's destination cannot be written; the message names the path, why, and what to do."""


__all__ = [
    "ExportError",
    "RunNotFound",
    "RunStateError",
    "SchemaTooNew",
    "ScreenshotMissing",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreLocked",
]
