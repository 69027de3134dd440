"""The model registry: which checkpoints exist, where they came from, and which one is in use.

One SQLite file, ``<data dir>/models/registry.sqlite`` (WAL), beside the checkpoints, which live in
``<data dir>/models/<model id>/``. The registry records each checkpoint's path and never deletes a
checkpoint's files except through an explicit :meth:`ModelRegistry.remove`.

A model's life::

    register  ->  candidate  --gate decision-->  promoted | rejected
                                promoted  --rollback-->  retired
                  any status but removed  --promote (a person)-->  promoted

Every decision is a row with its time, its source ("gate" or "person"), its reason and its whole
dict of numbers (:meth:`cua.learn.gate.GateDecision.as_dict`), and every model keeps its lineage:
parent, dataset, training config and metrics (DESIGN.md: *every decision is stored with its
numbers and lineage*). The current model of a kind is the one promoted most recently that has
not been rolled back; rolling back retires it, so the one promoted before it is current again.

A gate decides a candidate once: recording a second promote/reject verdict for the same model is
refused, since re-running a gate until it passes would spend its alpha again. A person may still
promote any model by hand (recorded with source "person").

The file is opened, migrated and written through :class:`cua.store.sqlite.Database`, like the
trajectory store and the memory index, and imports nothing heavier, so ``learn`` code and tests
use it without a model or a sandbox. Its failures are the store's (all ``StoreError``, each
naming the registry and saying what to do): a damaged file or another program's database raises
``StoreCorrupt``, a file from a newer cua ``SchemaTooNew``, one locked too long ``StoreLocked``,
a full disk ``StoreFull``, and any other failure of the file :class:`RegistryError`. An unknown
or ambiguous model id raises :class:`~cua.errors.UsageError` naming the known ones.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from cua.errors import UsageError
from cua.store.errors import StoreCorrupt, StoreError
from cua.store.sqlite import BUSY_TIMEOUT_S, Database


class RegistryError(StoreError):
    """The model registry file failed otherwise than full, locked, damaged or newer; the message says why.

    Raised (through :meth:`cua.store.sqlite.Database.translate`) for a file that cannot use WAL
    mode or any other SQLite failure of the registry. Its other failures are the store's own
    kinds (``StoreFull``, ``StoreLocked``, ``StoreCorrupt``, ``SchemaTooNew``); a wrong model id
    is a UsageError instead.
    """


Status = Literal["candidate", "promoted", "rejected", "retired", "removed"]
"""A model's standing: registered, in use (or usable), refused by the gate, rolled back, files deleted."""

STATUSES: tuple[Status, ...] = ("candidate", "promoted", "rejected", "retired", "removed")

_SCHEMA_1 = (
    f"""CREATE TABLE models (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        parent TEXT REFERENCES models(id),
        status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
        content_hash TEXT NOT NULL,
        dataset TEXT NOT NULL,
        config TEXT NOT NULL,
        metrics TEXT NOT NULL,
        note TEXT NOT NULL,
        created REAL NOT NULL,
        promoted_at REAL
    )""",
    "CREATE INDEX models_kind_status ON models(kind, status, promoted_at)",
    """CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        model_id TEXT NOT NULL REFERENCES models(id),
        time REAL NOT NULL,
        source TEXT NOT NULL,
        action TEXT NOT NULL,
        reason TEXT NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX decisions_model ON decisions(model_id, seq)",
)

APPLICATION_ID = 0x63756D72
"""``PRAGMA application_id`` of a registry file ("cumr"): tells it apart from other SQLite files."""

MIGRATIONS: tuple[tuple[str, ...], ...] = ((*_SCHEMA_1, f"PRAGMA application_id = {APPLICATION_ID}"),)
"""The schema as migrations (``cua.store.sqlite.migrate``): migration *n* turns version *n-1* into *n*.

Never edit a released one, append. Version 1 creates the tables and stamps ``APPLICATION_ID``.
"""

SCHEMA_VERSION = len(MIGRATIONS)
"""The registry file's schema version (``PRAGMA user_version``); a newer file is refused (SchemaTooNew)."""

_MODEL_COLUMNS = (
    "id, kind, path, parent, status, content_hash, dataset, config, metrics, note, created, promoted_at"
)


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def _json(value: Mapping[str, Any], what: str) -> str:
    """Serialize ``value`` for a column; ValueError naming ``what`` when it is not plain JSON."""
    try:
        return json.dumps(dict(value), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {what} must be a JSON object of plain values: {exc}") from None


@dataclass(frozen=True)
class ModelEntry:
    """One registered checkpoint and its lineage, as stored."""

    id: str
    """``m<sequence>-<8 hex of the content hash>``, e.g. ``m0007-3fa2b19c``."""
    kind: str
    """What the model is for, e.g. ``bundled`` (the bundled policy) or ``lora``."""
    path: Path
    """The checkpoint directory (or file)."""
    parent: str | None
    """The model this one was trained from, or None for a root."""
    status: Status
    """candidate, promoted, rejected, retired or removed (module docstring)."""
    content_hash: str
    """SHA-256 of the checkpoint's files (relative names and bytes), at registration."""
    dataset: Mapping[str, Any]
    """What it was trained on (e.g. run ids, counts, the replay mix)."""
    config: Mapping[str, Any]
    """How it was trained (the trainer's config)."""
    metrics: Mapping[str, Any]
    """What training reported (loss, steps, time)."""
    note: str
    """Free text from whoever registered it."""
    created: datetime
    """When it was registered (UTC)."""
    promoted_at: datetime | None
    """When it was last promoted (UTC), or None."""

    def as_dict(self) -> dict[str, Any]:
        """Return the entry as a JSON-ready dict (path as text, times in ISO 8601)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "path": str(self.path),
            "parent": self.parent,
            "status": self.status,
            "content_hash": self.content_hash,
            "dataset": dict(self.dataset),
            "config": dict(self.config),
            "metrics": dict(self.metrics),
            "note": self.note,
            "created": self.created.isoformat(),
            "promoted_at": None if self.promoted_at is None else self.promoted_at.isoformat(),
        }


@dataclass(frozen=True)
class Decision:
    """One stored decision about a model: a gate's verdict, a person's promotion, a rollback, a removal."""

    model_id: str
    """The model decided about."""
    time: datetime
    """When it was recorded (UTC)."""
    source: str
    """Who decided: ``gate`` or ``person`` (or what the decision dict's ``source`` said)."""
    action: str
    """promoted, rejected, retired, removed, or noted (numbers stored without a status change)."""
    reason: str
    """Why, in one sentence."""
    data: Mapping[str, Any]
    """The whole decision dict as given (the gate's numbers)."""

    def as_dict(self) -> dict[str, Any]:
        """Return the decision as a JSON-ready dict."""
        return {
            "model_id": self.model_id,
            "time": self.time.isoformat(),
            "source": self.source,
            "action": self.action,
            "reason": self.reason,
            "data": dict(self.data),
        }


def content_hash(path: Path) -> str:
    """Return the SHA-256 hex digest of the files at ``path`` (a directory, recursively, or one file).

    Each file contributes its path relative to ``path`` and its bytes, in sorted order, so the same
    checkpoint hashes the same wherever it lies. UsageError when ``path`` is missing or has no files.
    """
    if path.is_file():
        files = [path]
        root = path.parent
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        root = path
    else:
        raise UsageError(f"no checkpoint at {path}: give a checkpoint directory or file")
    if not files:
        raise UsageError(f"the checkpoint directory {path} has no files")
    digest = hashlib.sha256()
    for file in files:
        name = file.relative_to(root).as_posix().encode()
        digest.update(len(name).to_bytes(8, "big") + name + file.stat().st_size.to_bytes(8, "big"))
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class ModelRegistry:
    """The registry of ``<data_dir>/models/``: register checkpoints, record decisions, pick the current one.

    A context manager (``with ModelRegistry(root) as registry: ...``) or ``close()`` by hand.
    ``clock`` returns the time in seconds since the epoch (injected so tests are deterministic).
    Safe to share between threads; several processes may open the same file (WAL, busy timeout).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.models_dir = self.data_dir / "models"
        """Where checkpoints live, each in ``<model id>/``, and the registry file."""
        self.path = self.models_dir / "registry.sqlite"
        """The registry file."""
        self._clock = clock
        self._lock = threading.RLock()
        self._db = Database(self.path, "model registry", RegistryError, busy_timeout_s=busy_timeout_s)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._conn = self._open()

    # -- the file -------------------------------------------------------------------------------

    def _not_a_registry(self, why: str) -> StoreCorrupt:
        return StoreCorrupt(
            f"the model registry {self.path} is damaged or is not a cua model registry ({why}): move it "
            f"aside (e.g. rename it to registry.sqlite.bad) to start a new one and register the "
            f"checkpoints in {self.models_dir} again, or restore it from a backup; no checkpoint was touched"
        )

    def _open(self) -> sqlite3.Connection:
        """Open the file (created if missing; ``Database.connect``), check it is a registry, migrate it."""
        try:
            conn = self._db.connect()
        except StoreCorrupt as exc:  # not a database at all: say what that means for the checkpoints
            raise self._not_a_registry(str(exc.__cause__ or exc)) from exc
        try:
            with self._db.reading("opening it"):
                self._check(conn)
            self._db.migrate(conn, MIGRATIONS)  # SchemaTooNew for a file from a newer cua
        except BaseException:
            conn.close()
            raise
        return conn

    def _check(self, conn: sqlite3.Connection) -> None:
        """Refuse a file that is another program's database (StoreCorrupt, saying what to do)."""
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
        if app_id not in (0, APPLICATION_ID) or (version == 0 and tables > 0):
            raise self._not_a_registry("it is another SQLite database")

    def _reading(self, doing: str) -> contextlib.AbstractContextManager[None]:
        """Hold the lock for reads of ``self._conn``; SQLite's errors become StoreError kinds."""
        return self._db.reading(doing, self._lock)

    def _writing(self, doing: str) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction under the lock, committed at the block's end."""
        return self._db.transaction(self._conn, doing, self._lock)

    def close(self) -> None:
        """Close the file; the registry cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------

    @staticmethod
    def _entry(row: tuple[Any, ...]) -> ModelEntry:
        created = _when(row[10])
        assert created is not None
        return ModelEntry(
            id=row[0],
            kind=row[1],
            path=Path(row[2]),
            parent=row[3],
            status=row[4],
            content_hash=row[5],
            dataset=json.loads(row[6]),
            config=json.loads(row[7]),
            metrics=json.loads(row[8]),
            note=row[9],
            created=created,
            promoted_at=_when(row[11]),
        )

    def _resolve(self, conn: sqlite3.Connection, model_id: str) -> ModelEntry:
        """Return the model whose id is ``model_id`` or starts with it (unique); UsageError otherwise."""
        rows = conn.execute(
            f"SELECT {_MODEL_COLUMNS} FROM models WHERE id = ? OR substr(id, 1, ?) = ? ORDER BY seq",
            (model_id, len(model_id), model_id),
        ).fetchall()
        exact = [r for r in rows if r[0] == model_id]
        if exact:
            return self._entry(exact[0])
        if len(rows) == 1 and model_id:
            return self._entry(rows[0])
        if len(rows) > 1 and model_id:
            raise UsageError(
                f"model id {model_id!r} is ambiguous: it starts {', '.join(r[0] for r in rows)}; "
                "give more of it"
            )
        known = [r[0] for r in conn.execute("SELECT id FROM models ORDER BY seq DESC LIMIT 11")]
        if not known:
            raise UsageError(f"no model {model_id!r}: the registry {self.path} has no models yet")
        more = ", ..." if len(known) > 10 else ""
        raise UsageError(
            f"no model {model_id!r} in {self.path}; known (newest first): {', '.join(known[:10])}{more}"
        )

    def get(self, model_id: str) -> ModelEntry:
        """Return the model with this id, or the one whose id starts with it (``m0003`` will do).

        UsageError naming the known ids when none matches, or the candidates when several do.
        """
        with self._reading("reading a model"):
            return self._resolve(self._conn, model_id)

    def list(self, kind: str | None = None, status: Status | None = None) -> builtins.list[ModelEntry]:
        """Return the models (only of ``kind`` / ``status`` when given), oldest first."""
        where, args = [], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = f"SELECT {_MODEL_COLUMNS} FROM models"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._reading("listing models"):
            return [self._entry(r) for r in self._conn.execute(sql + " ORDER BY seq", args)]

    def _promoted(self, conn: sqlite3.Connection, kind: str) -> builtins.list[ModelEntry]:
        """Return the promoted models of ``kind``, the current one first."""
        rows = conn.execute(
            f"SELECT {_MODEL_COLUMNS} FROM models WHERE kind = ? AND status = 'promoted' "
            "ORDER BY promoted_at DESC, seq DESC",
            (kind,),
        ).fetchall()
        return [self._entry(r) for r in rows]

    def current(self, kind: str = "bundled") -> ModelEntry | None:
        """Return the model of ``kind`` in use: the one promoted last and not rolled back (None if none)."""
        with self._reading("finding the current model"):
            promoted = self._promoted(self._conn, kind)
        return promoted[0] if promoted else None

    def decisions(self, model_id: str) -> builtins.list[Decision]:
        """Return every decision recorded about the model, oldest first."""
        with self._reading("reading decisions"):
            entry = self._resolve(self._conn, model_id)
            rows = self._conn.execute(
                "SELECT model_id, time, source, action, reason, data FROM decisions WHERE model_id = ? "
                "ORDER BY seq",
                (entry.id,),
            ).fetchall()
        return [
            Decision(r[0], datetime.fromtimestamp(r[1], tz=UTC), r[2], r[3], r[4], json.loads(r[5]))
            for r in rows
        ]

    def lineage(self, model_id: str) -> builtins.list[ModelEntry]:
        """Return the model and its ancestors: itself first, then its parent, ... up to a root."""
        with self._reading("reading a lineage"):
            chain = [self._resolve(self._conn, model_id)]
            while chain[-1].parent is not None:
                chain.append(self._resolve(self._conn, chain[-1].parent))
        return chain

    # -- writing --------------------------------------------------------------------------------

    def new_checkpoint_dir(self) -> Path:
        """Return a new empty directory under ``models/`` for a trainer to write a checkpoint into.

        :meth:`register` renames it to ``models/<model id>/`` (a cheap rename: same directory).
        """
        path = self.models_dir / f"new-{secrets.token_hex(6)}"
        path.mkdir()
        return path

    def register(
        self,
        kind: str,
        path: Path,
        *,
        parent: str | None,
        dataset: Mapping[str, Any],
        config: Mapping[str, Any],
        metrics: Mapping[str, Any],
        note: str = "",
    ) -> ModelEntry:
        """Record a new checkpoint as a candidate; return its entry (id ``m<seq>-<8 hex of its hash>``).

        A checkpoint directly under ``models/`` (e.g. from :meth:`new_checkpoint_dir`) is renamed to
        ``models/<model id>/``; one elsewhere is recorded where it is and left alone. ``parent`` is
        the model it was trained from (an id or unique prefix), or None. ``dataset``, ``config`` and
        ``metrics`` must be JSON objects (ValueError otherwise). UsageError for a missing or empty
        checkpoint, an empty kind, an unknown parent, or a path another model already records.
        """
        if not kind.strip():
            raise UsageError("a model kind is needed, e.g. 'bundled'")
        path = Path(path).absolute()
        models_dir = self.models_dir.absolute()
        if models_dir.is_relative_to(path):
            raise UsageError(f"{path} holds the registry itself; give the checkpoint's own directory")
        if path.parent == models_dir and not path.is_dir():
            raise UsageError(f"{path} is a file in the registry's own directory; give a checkpoint directory")
        digest = content_hash(path)
        columns = (_json(dataset, "dataset"), _json(config, "config"), _json(metrics, "metrics"))
        moved: tuple[Path, Path] | None = None  # (to, from), undone if the record is not committed
        try:
            with self._writing("registering a model") as conn:
                parent_id = None if parent is None else self._resolve(conn, parent).id
                same = conn.execute(
                    "SELECT id FROM models WHERE path = ? AND status != 'removed'", (str(path),)
                ).fetchone()
                if same is not None:
                    raise UsageError(f"{path} is already registered as {same[0]}")
                row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'models'").fetchone()
                seq = (int(row[0]) if row else 0) + 1
                model_id = f"m{seq:04d}-{digest[:8]}"
                target = path
                if path.parent == models_dir and path.name != model_id:
                    target = models_dir / model_id
                    if target.exists():
                        raise UsageError(f"cannot move {path} to {target}: something is already there")
                    path.rename(target)
                    moved = (target, path)
                conn.execute(
                    f"INSERT INTO models (seq, {_MODEL_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, 'candidate', ?, ?, ?, ?, ?, ?, NULL)",
                    (seq, model_id, kind, str(target), parent_id, digest, *columns, note, self._clock()),
                )
                entry = self._resolve(conn, model_id)
        except BaseException:
            if moved is not None:
                moved[0].rename(moved[1])
            raise
        return entry

    def _decide(
        self,
        conn: sqlite3.Connection,
        model_id: str,
        *,
        source: str,
        action: str,
        reason: str,
        data: Mapping[str, Any],
        status: Status | None,
    ) -> Decision:
        """Insert one decision row (and set the model's status when ``status`` is given)."""
        now = self._clock()
        conn.execute(
            "INSERT INTO decisions (model_id, time, source, action, reason, data) VALUES (?, ?, ?, ?, ?, ?)",
            (model_id, now, source, action, reason, _json(data, "decision")),
        )
        if status == "promoted":
            conn.execute(
                "UPDATE models SET status = ?, promoted_at = ? WHERE id = ?", (status, now, model_id)
            )
        elif status is not None:
            conn.execute("UPDATE models SET status = ? WHERE id = ?", (status, model_id))
        return Decision(model_id, datetime.fromtimestamp(now, tz=UTC), source, action, reason, dict(data))

    def record_decision(self, model_id: str, decision: Mapping[str, Any]) -> Decision:
        """Store a decision dict (a gate's ``GateDecision.as_dict()``) with the time; return it.

        With a ``promoted`` key the candidate becomes "promoted" or "rejected"; that verdict is
        accepted once, for a model still a candidate (UsageError otherwise: re-running a gate until
        it passes would spend its alpha again). Without it the numbers are stored as a note.
        ``source`` defaults to "gate" and ``reason`` to "" when the dict has none.
        """
        data = dict(decision)
        source = str(data.get("source", "gate"))
        reason = str(data.get("reason", ""))
        with self._writing("recording a decision") as conn:
            entry = self._resolve(conn, model_id)
            if "promoted" not in data:
                return self._decide(
                    conn, entry.id, source=source, action="noted", reason=reason, data=data, status=None
                )
            if entry.status != "candidate":
                raise UsageError(
                    f"{entry.id} is {entry.status}, not a candidate: a gate decides a candidate once "
                    "(use `cua models promote` or `cua models rollback` to change it by hand)"
                )
            status: Status = "promoted" if data["promoted"] else "rejected"
            return self._decide(
                conn, entry.id, source=source, action=status, reason=reason, data=data, status=status
            )

    def promote(self, model_id: str, reason: str) -> ModelEntry:
        """Make the model current for its kind by hand (recorded with source "person"); return it.

        UsageError without a reason, or for a model whose files were removed.
        """
        if not reason.strip():
            raise UsageError("say why the model is promoted by hand (--reason TEXT)")
        with self._writing("promoting a model") as conn:
            entry = self._resolve(conn, model_id)
            if entry.status == "removed":
                raise UsageError(f"{entry.id} was removed (its checkpoint is gone); it cannot be promoted")
            data = {"source": "person", "promoted": True, "reason": reason, "previous_status": entry.status}
            self._decide(conn, entry.id, source="person", action="promoted", reason=reason, data=data,
                         status="promoted")  # fmt: skip
            return self._resolve(conn, entry.id)

    def rollback(self, kind: str = "bundled", reason: str = "") -> ModelEntry:
        """Retire the current model of ``kind``; return the one current now (promoted before it).

        UsageError without a reason, or when there is nothing to roll back to (no current model,
        or no earlier promoted one): then the current model stays current.
        """
        if not reason.strip():
            raise UsageError("say why the model is rolled back (--reason TEXT)")
        with self._writing("rolling back") as conn:
            promoted = self._promoted(conn, kind)
            if not promoted:
                raise UsageError(f"no {kind} model is promoted: there is nothing to roll back")
            if len(promoted) == 1:
                raise UsageError(
                    f"nothing to roll back to: {promoted[0].id} is the only promoted {kind} model "
                    "(promote another with `cua models promote MODEL_ID --reason TEXT`)"
                )
            current, previous = promoted[0], promoted[1]
            data = {"source": "person", "rolled_back_to": previous.id, "reason": reason}
            self._decide(conn, current.id, source="person", action="retired", reason=reason, data=data,
                         status="retired")  # fmt: skip
            return previous

    def remove(self, model_id: str, reason: str) -> ModelEntry:
        """Delete a model's checkpoint files and mark it "removed"; its record and decisions stay.

        Only files under ``models/`` are deleted (a checkpoint registered from elsewhere is left
        where it is). UsageError for the current model of its kind: roll it back first.
        """
        if not reason.strip():
            raise UsageError("say why the model is removed")
        models_dir = self.models_dir.absolute()
        with self._writing("removing a model") as conn:
            entry = self._resolve(conn, model_id)
            promoted = self._promoted(conn, entry.kind)
            if promoted and promoted[0].id == entry.id:
                raise UsageError(
                    f"{entry.id} is the current {entry.kind} model: roll it back before removing it"
                )
            inside = entry.path != models_dir and entry.path.is_relative_to(models_dir)
            data = {"source": "person", "reason": reason, "deleted_files": inside}
            self._decide(conn, entry.id, source="person", action="removed", reason=reason, data=data,
                         status="removed")  # fmt: skip
            removed = self._resolve(conn, entry.id)
        # The files go only once the record says so: a failed commit leaves them in place.
        if inside and entry.path.is_dir():
            shutil.rmtree(entry.path)
        elif inside and entry.path.exists():
            entry.path.unlink()
        return removed


__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Decision",
    "ModelEntry",
    "ModelRegistry",
    "RegistryError",
    "Status",
    "content_hash",
]
