"""How cua opens, migrates and writes its SQLite files (the trajectory store, the memory index).

One :class:`Database` per file says what it is called in messages and which error stands for
its other failures. It opens connections the same way for both (autocommit, WAL, a busy timeout,
foreign keys), turns SQLite's errors into the store's (:meth:`Database.translate`)::

    disk full                       StoreFull       nothing was written
    locked past the busy timeout    StoreLocked     another process holds the write lock
    damaged, or not a database      StoreCorrupt    the file cannot be read as one
    schema newer than the code      SchemaTooNew    raised by :func:`migrate`
    anything else                   Database.error  StoreError, or the owner's subclass

and brings a file up to date with :func:`migrate`: an ordered list of migrations numbered by
``PRAGMA user_version``, each applied in one ``BEGIN IMMEDIATE`` transaction that re-reads the
version first, so two processes opening a file at once apply each migration exactly once.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cua.store.errors import SchemaTooNew, StoreCorrupt, StoreError, StoreFull, StoreLocked

BUSY_TIMEOUT_S = 30.0
"""How long a connection waits for another process's write lock before giving up (StoreLocked)."""

Migration = Sequence[str]
"""The SQL statements that turn a version *n-1* file into version *n*."""

_FULL = (sqlite3.SQLITE_FULL,)
_LOCKED = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_CORRUPT = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _code(exc: sqlite3.Error) -> int:
    """Return the primary result code of ``exc`` (0 when SQLite gave none)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_full(exc: sqlite3.Error) -> bool:
    """Return whether ``exc`` says the disk (or the file's size limit) is full."""
    return _code(exc) in _FULL


def is_locked(exc: sqlite3.Error) -> bool:
    """Return whether ``exc`` says another connection holds a lock the operation needed."""
    return _code(exc) in _LOCKED or (isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc))


def is_corrupt(exc: sqlite3.Error) -> bool:
    """Return whether ``exc`` says the file is damaged or is not a database at all."""
    return _code(exc) in _CORRUPT


@dataclass(frozen=True)
class Database:
    """One SQLite file of the data directory: its path, its name in messages, its error class.

    ``label`` names the file for people ("trajectory database", "memory index"); ``error`` is
    raised for failures that are neither full, locked nor corrupt; ``full_message``, given what
    was being done, writes the StoreFull message (a default one says to free space);
    ``busy_timeout_s`` is how long a write waits for another process's lock (then StoreLocked).
    """

    path: Path
    label: str
    error: type[StoreError] = StoreError
    full_message: Callable[[str], str] | None = None
    busy_timeout_s: float = BUSY_TIMEOUT_S

    @property
    def name(self) -> str:
        """Return e.g. ``the memory index /home/me/.local/share/cua/memory/memory.sqlite``."""
        return f"the {self.label} {self.path}"

    def connect(self, *, synchronous: str = "FULL") -> sqlite3.Connection:
        """Open the file (created if missing) in autocommit mode, in WAL, with a busy timeout.

        ``synchronous``: ``FULL`` makes every commit durable when it returns; ``NORMAL`` may
        lose the last commits on a power cut (never the file's consistency).
        """
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout_s
            )
        except sqlite3.Error as exc:
            raise self.translate(exc, "opening it") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            mode = _enter_wal(conn, self.busy_timeout_s)
            if mode != "wal":
                raise self.error(
                    f"{self.name} cannot use WAL mode (got {mode!r}); put CUA_DATA_DIR on a local disk "
                    "(WAL needs shared memory, which network file systems lack)"
                )
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA temp_store = MEMORY")  # no temporary files to fill a disk with
            conn.execute("PRAGMA journal_size_limit = 16777216")
        except sqlite3.Error as exc:
            conn.close()
            raise self.translate(exc, "opening it") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def translate(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """Return the error to raise for ``exc``, which happened while ``doing`` (e.g. "reading")."""
        if is_full(exc):
            if self.full_message is not None:
                return StoreFull(self.full_message(doing))
            return StoreFull(
                f"the disk holding {self.name} is full ({doing}); nothing was written: free some "
                "space, or set CUA_DATA_DIR to a directory on a larger disk"
            )
        if is_locked(exc):
            return StoreLocked(
                f"{self.name} stayed locked by another process while {doing} (waited "
                f"{self.busy_timeout_s:g} s); retry, or stop the other cua process"
            )
        if is_corrupt(exc):
            return StoreCorrupt(
                f"{self.name} is damaged or is not a cua database ({exc}, while {doing}); move it "
                "aside to start a new one, or restore it from a backup"
            )
        return self.error(f"{self.name} failed while {doing}: {exc}")

    def migrate(self, conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
        """Bring the file on ``conn`` up to date (see :func:`migrate`), translating SQLite's errors."""
        try:
            return migrate(conn, migrations, name=self.name)
        except sqlite3.Error as exc:
            raise self.translate(exc, "preparing the database") from exc

    @contextlib.contextmanager
    def transaction(
        self, conn: sqlite3.Connection, doing: str, lock: threading.RLock | None = None
    ) -> Iterator[sqlite3.Connection]:
        """Run the block in one ``BEGIN IMMEDIATE`` transaction (under ``lock``), committed at its end.

        An exception in the block rolls it back; a SQLite error is translated.
        """
        with lock if lock is not None else contextlib.nullcontext():
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self.translate(exc, doing) from exc

    @contextlib.contextmanager
    def reading(self, doing: str, lock: threading.RLock | None = None) -> Iterator[None]:
        """Hold ``lock`` for the block and translate the SQLite errors it raises."""
        with lock if lock is not None else contextlib.nullcontext():
            try:
                yield
            except sqlite3.Error as exc:
                raise self.translate(exc, doing) from exc


def _enter_wal(conn: sqlite3.Connection, patience_s: float) -> str:
    """Switch the database to WAL (a no-op once it is); return the journal mode it ends in.

    The switch needs an exclusive lock, and SQLite answers "locked" at once, without its busy
    handler, when openers of a fresh file race for it; so retry for a while.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode == "wal":
                return mode
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def user_version(conn: sqlite3.Connection) -> int:
    """Return the file's schema version (``PRAGMA user_version``; 0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration], *, name: str) -> int:
    """Apply the migrations the file on ``conn`` (autocommit mode) lacks; return its old version.

    Migration *n* (1-based) turns version *n-1* into *n*. Each runs in its own ``BEGIN
    IMMEDIATE`` transaction that re-reads the version first (another process may have applied
    it meanwhile), and sets ``user_version`` before committing. Raises SchemaTooNew, naming the
    file by ``name``, when the file is newer than ``migrations``, rather than guessing; SQLite's
    own errors are left to the caller (``Database.migrate`` translates them).
    """
    latest = len(migrations)
    old = user_version(conn)
    if old > latest:
        raise SchemaTooNew(
            f"{name} has schema version {old}, but this cua knows only up to {latest}: upgrade cua, "
            "or point CUA_DATA_DIR at another data directory"
        )
    while True:
        version = user_version(conn)
        if version >= latest:
            return old
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = user_version(conn)  # another process may have won the race
            if version < latest:
                for statement in migrations[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise


__all__ = [
    "BUSY_TIMEOUT_S",
    "Database",
    "Migration",
    "is_corrupt",
    "is_full",
    "is_locked",
    "migrate",
    "user_version",
]
