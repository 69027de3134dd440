"""The trajectory store's exceptions, as a branch of the agent's tree (``cua.errors.CuaError``).

::

    CuaError
     └── StoreError              the store could not do what was asked; the message says why
          ├── StoreFull          the disk holding the store is (nearly) full: nothing was written
          ├── RunNotFound        no run has that id (also a LookupError)
          ├── RunStateError      the run is not in a state that allows the operation
          ├── ScreenshotMissing  a screenshot file that a row names is gone (also a LookupError)
          ├── SchemaTooNew       the database was written by a newer cua
          └── ExportError        an export cannot be written where asked (missing or read-only
                                 folder, a file where a folder must be, a folder not empty)

Each message says what to do next, because the people reading them are operating an agent, not
debugging SQLite.
"""

from __future__ import annotations

from cua.errors import CuaError


class StoreError(CuaError):
    """Base class of every error raised by the trajectory store."""


class StoreFull(StoreError):
    """The disk holding the store has too little free space; the failed write left nothing behind.

    Earlier steps are intact, and the run can still be finished (with status ``error``): the
    store keeps a small reserve file that it gives up to make that final write possible.
    """


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
    "StoreError",
    "StoreFull",
]
