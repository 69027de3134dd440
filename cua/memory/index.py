"""The experience index: items in one SQLite file beside the trajectory store, vectors in numpy.

An item is one remembered trajectory: a verified success (``kind='success'``) or a failure kept
as a pitfall with the critic's reasons (``kind='pitfall'``). Runs of the same family with the
same action sequence merge into one item (``support`` counts them). Each item carries a Beta
posterior of "the run succeeded when this item was shown" (``alpha``, ``beta``, prior 1, 1);
its mean is the item's utility. Search is brute-force cosine in numpy over rows kept sorted by
application, so a query for one application scans only that application's rows.

Schema (``<data_dir>/memory/memory.sqlite``; :data:`MIGRATIONS`, applied at open by
``cua.store.sqlite`` exactly as the trajectory store's are; version 1 is this layout)::

    items(id, kind, family, app, split, instruction, steps JSON, reasons JSON, signature,
          support, alpha, beta, shown, created_at, last_used_at,
          text_vec BLOB (384 float32), screen_vec BLOB (160 float32), step_vecs BLOB (n x 160))
          UNIQUE (kind, family, signature)
    item_runs(run_id PRIMARY KEY, item_id -> items ON DELETE CASCADE, task_id, admitted_at)
    outcomes(episode PRIMARY KEY, success, settled_at)      -- each episode counts once
    exposures(episode, item_id, PRIMARY KEY (episode, item_id))
    meta(key PRIMARY KEY, value)                            -- 'text_encoder': the vectors' encoder

Text vectors are only comparable within one encoder: the index records which one made them,
and ``bind_encoder`` re-embeds every item's instruction when another encoder opens it (an index
from before the record counts as ``all-MiniLM-L6-v2``, the only encoder there was).

Eviction (when a kind exceeds its capacity): lowest utility first, then fewest merged runs,
then least recently shown (never shown counts as oldest), then oldest admitted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from cua.memory.errors import MemoryIndexError as MemoryIndexError  # its old home, still re-exported
from cua.models.embed import SCREEN_DIM, TEXT_DIM, TextEncoder, Vector
from cua.store.sqlite import Database

log = logging.getLogger("cua.memory")

Kind = Literal["success", "pitfall"]
DB_NAME = "memory.sqlite"

_SCHEMA_1 = (
    """
    CREATE TABLE IF NOT EXISTS items (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT NOT NULL CHECK (kind IN ('success', 'pitfall')),
        family       TEXT NOT NULL,
        app          TEXT NOT NULL,
        split        TEXT NOT NULL DEFAULT 'train',
        instruction  TEXT NOT NULL,
        steps        TEXT NOT NULL,
        reasons      TEXT NOT NULL,
        signature    TEXT NOT NULL,
        support      INTEGER NOT NULL DEFAULT 1,
        alpha        REAL NOT NULL DEFAULT 1.0,
        beta         REAL NOT NULL DEFAULT 1.0,
        shown        INTEGER NOT NULL DEFAULT 0,
        created_at   REAL NOT NULL,
        last_used_at REAL,
        text_vec     BLOB NOT NULL,
        screen_vec   BLOB NOT NULL,
        step_vecs    BLOB NOT NULL,
        UNIQUE (kind, family, signature)
    )
    """,
    "CREATE INDEX IF NOT EXISTS items_app ON items (app, id)",
    """
    CREATE TABLE IF NOT EXISTS item_runs (
        run_id      TEXT PRIMARY KEY,
        item_id     INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        task_id     TEXT,
        admitted_at REAL NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS item_runs_item ON item_runs (item_id)",
    "CREATE INDEX IF NOT EXISTS item_runs_task ON item_runs (task_id)",
    "CREATE TABLE IF NOT EXISTS outcomes"
    " (episode TEXT PRIMARY KEY, success INTEGER NOT NULL, settled_at REAL)",
    """
    CREATE TABLE IF NOT EXISTS exposures (
        episode TEXT NOT NULL,
        item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        PRIMARY KEY (episode, item_id)
    ) WITHOUT ROWID
    """,
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
#: The schema as migrations: migration *n* turns a version *n-1* file into version *n*. Never
#: edit a released one, append. Version 1 keeps ``IF NOT EXISTS``: files from before the index
#: counted versions already hold its tables.
_SCHEMA_2 = (
    # Runs a person took out of memory: admission skips them until they are admitted again by
    # hand, so forgetting survives the next `cua memory build`.
    """
    CREATE TABLE excluded_runs (
        run_id      TEXT PRIMARY KEY,
        reason      TEXT NOT NULL,
        excluded_at REAL NOT NULL
    )
    """,
)
MIGRATIONS: tuple[tuple[str, ...], ...] = (_SCHEMA_1, _SCHEMA_2)
SCHEMA_VERSION = len(MIGRATIONS)

#: The encoder of indexes written before the ``meta`` table existed.
LEGACY_ENCODER = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class StepNote:
    """One remembered step: the action in words and what it acted on (a locator description)."""

    action: str
    target: str | None = None

    def text(self) -> str:
        """Return e.g. ``click on push button 'OK'``."""
        return f"{self.action} on {self.target}" if self.target else self.action


@dataclass(frozen=True)
class NewItem:
    """An item as admission hands it to the index (one source run)."""

    kind: Kind
    family: str
    app: str
    instruction: str
    steps: tuple[StepNote, ...]
    signature: str
    text_vec: Vector
    screen_vec: Vector
    step_vecs: Vector
    """One screen vector per step, (len(steps), 160)."""
    run_id: str
    task_id: str | None = None
    split: str = "train"
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """A stored item with its utility statistics."""

    id: int
    kind: Kind
    family: str
    app: str
    split: str
    instruction: str
    steps: tuple[StepNote, ...]
    reasons: tuple[str, ...]
    support: int
    alpha: float
    beta: float
    shown: int
    created_at: float
    last_used_at: float | None
    runs: tuple[str, ...] = ()

    @property
    def utility(self) -> float:
        """Return the posterior mean of success when this item was shown (0.5 before any use)."""
        return self.alpha / (self.alpha + self.beta)


@dataclass
class _Arrays:
    """Every item's vectors and statistics as numpy arrays, rows sorted by (app, id)."""

    ids: npt.NDArray[np.int64]
    text: Vector
    screen: Vector
    positive: npt.NDArray[np.bool_]
    evalsplit: npt.NDArray[np.bool_]
    family: npt.NDArray[np.int32]
    families: dict[str, int]
    apps: dict[str, tuple[int, int]]
    row: dict[int, int]
    alpha: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    beta: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class AddReport:
    """What ``add`` did."""

    added: int = 0
    merged: int = 0
    already: int = 0


class ExperienceIndex:
    """Experience items in SQLite with an in-memory numpy copy of their vectors; thread-safe."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        """Open (creating) the index file ``path`` (a folder means ``<folder>/memory.sqlite``)."""
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path = path / DB_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MemoryIndexError(
                f"cannot create the memory index folder {path.parent}: {exc.strerror}; "
                "set CUA_DATA_DIR to a writable directory"
            ) from exc
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._db = Database(path, "memory index", MemoryIndexError)
        # NORMAL: a power cut may lose the last few commits (never the file's consistency).
        self._conn = self._db.connect(synchronous="NORMAL")
        try:
            self._db.migrate(self._conn, MIGRATIONS)
        except BaseException:
            self._conn.close()
            raise
        self._arrays: _Arrays | None = None
        self._stats_stale = False

    @classmethod
    def beside(cls, data_dir: str | Path) -> ExperienceIndex:
        """Open the index of the cua data directory (``<data_dir>/memory/``, beside ``trajectories/``)."""
        return cls(cls.path_beside(data_dir))

    @staticmethod
    def path_beside(data_dir: str | Path) -> Path:
        """Return where the index of the cua data directory lives (it may not exist yet)."""
        return Path(data_dir) / "memory" / DB_NAME

    # -- plumbing ---------------------------------------------------------------------------------

    def _tx(self, doing: str = "writing to it") -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction under the lock; SQLite's errors become StoreError kinds."""
        return self._db.transaction(self._conn, doing, self._lock)

    def _reading(self, doing: str = "reading it") -> contextlib.AbstractContextManager[None]:
        """Hold the lock for reads; SQLite's errors become StoreError kinds."""
        return self._db.reading(doing, self._lock)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ExperienceIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the text encoder -------------------------------------------------------------------------

    @property
    def encoder_name(self) -> str | None:
        """Return the name of the encoder the stored text vectors were made with (None: no items yet)."""
        with self._reading():
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'text_encoder'").fetchone()
            if row is not None:
                return str(row[0])
            return LEGACY_ENCODER if self.count() else None

    def bind_encoder(self, encoder: TextEncoder, *, batch: int = 512) -> int:
        """Make the stored text vectors ``encoder``'s: re-embed every instruction if another made them.

        Return how many items were re-embedded (0 when the encoder already matches). Items are
        rewritten in one transaction, so an interrupted re-embedding leaves the old vectors and
        the old name, and the next open starts again.
        """
        if encoder.dim != TEXT_DIM:
            raise MemoryIndexError(
                f"encoder {encoder.name} makes {encoder.dim}-d vectors; the index holds {TEXT_DIM}-d ones"
            )
        if self.encoder_name == encoder.name:
            return 0
        n = 0
        with self._tx() as conn:
            current = self.encoder_name  # again, under the write lock: another thread may have bound it
            if current == encoder.name:
                return 0
            rows = conn.execute("SELECT id, instruction FROM items ORDER BY id").fetchall()
            if rows:
                log.info("re-embedding %d memory items: made by %s, now %s", len(rows), current, encoder.name)
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                vecs = encoder.encode([r[1] for r in chunk])
                conn.executemany(
                    "UPDATE items SET text_vec = ? WHERE id = ?",
                    [(_blob(v, TEXT_DIM), r[0]) for r, v in zip(chunk, vecs, strict=True)],
                )
                n += len(chunk)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('text_encoder', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (encoder.name,),
            )
        self._arrays = None
        return n

    # -- writing ----------------------------------------------------------------------------------

    def add(self, items: Iterable[NewItem], *, encoder: str | None = None) -> AddReport:
        """Insert items; an item equal to a stored one (kind, family, signature) merges into it.

        ``encoder`` names the encoder of the items' text vectors: it is recorded for an index
        that has none, and must match the recorded one otherwise (``bind_encoder`` first).
        A run already admitted is skipped, so admitting a store twice changes nothing.
        """
        added = merged = already = 0
        now = self._clock()
        current = self.encoder_name if encoder is not None else None
        if encoder is not None and current not in (None, encoder):
            raise MemoryIndexError(
                f"{self.path} holds text vectors of {current}, these items were embedded with {encoder}: "
                "open the index with bind_encoder(encoder) first"
            )
        with self._tx() as conn:
            if encoder is not None and current is None:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('text_encoder', ?)", [encoder])
            for it in items:
                if conn.execute("SELECT 1 FROM item_runs WHERE run_id = ?", (it.run_id,)).fetchone():
                    already += 1
                    continue
                row = conn.execute(
                    "SELECT id FROM items WHERE kind = ? AND family = ? AND signature = ?",
                    (it.kind, it.family, it.signature),
                ).fetchone()
                if row is not None:
                    item_id = int(row[0])
                    conn.execute("UPDATE items SET support = support + 1 WHERE id = ?", (item_id,))
                    if it.reasons:
                        old = json.loads(conn.execute("SELECT reasons FROM items WHERE id = ?", (item_id,))
                                         .fetchone()[0])  # fmt: skip
                        joined = list(dict.fromkeys([*old, *it.reasons]))[:8]
                        conn.execute(
                            "UPDATE items SET reasons = ? WHERE id = ?", (json.dumps(joined), item_id)
                        )
                    merged += 1
                else:
                    cur = conn.execute(
                        "INSERT INTO items (kind, family, app, split, instruction, steps, reasons, signature,"
                        " created_at, text_vec, screen_vec, step_vecs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            it.kind, it.family, it.app, it.split, it.instruction,
                            json.dumps([[s.action, s.target] for s in it.steps]),
                            json.dumps(list(it.reasons)), it.signature, now,
                            _blob(it.text_vec, TEXT_DIM), _blob(it.screen_vec, SCREEN_DIM),
                            _blob(it.step_vecs, SCREEN_DIM),
                        ),
                    )  # fmt: skip
                    item_id = int(cur.lastrowid or 0)
                    added += 1
                conn.execute(
                    "INSERT INTO item_runs (run_id, item_id, task_id, admitted_at) VALUES (?,?,?,?)",
                    (it.run_id, item_id, it.task_id, now),
                )
        if added or merged:
            self._arrays = None
        return AddReport(added, merged, already)

    def detach_run(self, run_id: str) -> bool:
        """Forget that ``run_id`` supports its item (its verdict changed); drop items left unsupported."""
        with self._tx() as conn:
            row = conn.execute("SELECT item_id FROM item_runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM item_runs WHERE run_id = ?", (run_id,))
            conn.execute("UPDATE items SET support = support - 1 WHERE id = ?", (row[0],))
            conn.execute("DELETE FROM items WHERE id = ? AND support <= 0", (row[0],))
        self._arrays = None
        return True

    def forget(self, item_ids: Iterable[int]) -> int:
        """Delete items by id; return how many existed. Their runs are excluded from admission."""
        ids = list(item_ids)
        with self._tx() as conn:
            for i in ids:
                self._exclude_item_runs(conn, "item", i, f"forgotten with item {i}")
            n = sum(conn.execute("DELETE FROM items WHERE id = ?", (i,)).rowcount for i in ids)
        self._arrays = None
        return n

    def forget_family(self, family: str) -> int:
        """Delete every item of ``family``; return how many. Their runs are excluded from admission."""
        with self._tx() as conn:
            self._exclude_item_runs(conn, "family", family, f"forgotten with family {family}")
            n = conn.execute("DELETE FROM items WHERE family = ?", (family,)).rowcount
        self._arrays = None
        return n

    _EXCLUDE_BY: ClassVar[dict[str, str]] = {
        "item": "INSERT OR REPLACE INTO excluded_runs (run_id, reason, excluded_at)"
        " SELECT run_id, ?, ? FROM item_runs WHERE item_id = ?",
        "family": "INSERT OR REPLACE INTO excluded_runs (run_id, reason, excluded_at)"
        " SELECT run_id, ?, ? FROM item_runs WHERE item_id IN (SELECT id FROM items WHERE family = ?)",
    }

    def _exclude_item_runs(self, conn: sqlite3.Connection, by: str, key: object, reason: str) -> None:
        """Record the runs of an item (or a family) as excluded, before the item is deleted."""
        conn.execute(self._EXCLUDE_BY[by], (reason, self._clock(), key))

    def exclude_run(self, run_id: str, reason: str) -> bool:
        """Take ``run_id`` out of memory until :meth:`include_run`; return whether it supported an item.

        The run is detached from its item (an item it alone supported is deleted) and admission
        skips it, so the next `cua memory build` does not bring it back.
        """
        if not reason.strip():
            raise MemoryIndexError("say why the run is taken out of memory (a reason is required)")
        detached = self.detach_run(run_id)
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO excluded_runs (run_id, reason, excluded_at) VALUES (?, ?, ?)",
                (run_id, reason.strip(), self._clock()),
            )
        return detached

    def include_run(self, run_id: str) -> bool:
        """Let admission take ``run_id`` again; return whether it had been excluded."""
        with self._tx() as conn:
            return conn.execute("DELETE FROM excluded_runs WHERE run_id = ?", (run_id,)).rowcount > 0

    def excluded_runs(self) -> dict[str, str]:
        """Return the runs a person took out of memory, each with the reason given."""
        with self._reading():
            return {r[0]: r[1] for r in self._conn.execute("SELECT run_id, reason FROM excluded_runs")}

    def item_of_run(self, run_id: str) -> int | None:
        """Return the id of the item ``run_id`` supports (None: not in memory)."""
        with self._reading():
            row = self._conn.execute("SELECT item_id FROM item_runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else int(row[0])

    def evict(self, capacity: int, kind: Kind) -> list[int]:
        """Keep at most ``capacity`` items of ``kind``; delete by the eviction rule; return the ids."""
        with self._tx() as conn:
            excess = (
                conn.execute("SELECT COUNT(*) FROM items WHERE kind = ?", (kind,)).fetchone()[0] - capacity
            )
            if excess <= 0:
                return []
            ids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM items WHERE kind = ? ORDER BY alpha / (alpha + beta) ASC, support ASC,"
                    " COALESCE(last_used_at, 0) ASC, created_at ASC, id ASC LIMIT ?",
                    (kind, excess),
                )
            ]
            conn.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        self._arrays = None
        return ids

    def record_exposure(self, episode: str, item_ids: Iterable[int]) -> None:
        """Note that ``episode`` showed these items (its outcome will update their utility)."""
        now = self._clock()
        ids = sorted(set(item_ids))
        with self._tx() as conn:
            for i in ids:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO exposures (episode, item_id) VALUES (?, ?)", (episode, i)
                )
                if cur.rowcount:
                    conn.execute(
                        "UPDATE items SET shown = shown + 1, last_used_at = ? WHERE id = ?", (now, i)
                    )

    def record_outcome(self, episode: str, success: bool) -> int:
        """Update the utility of every item ``episode`` showed (once per episode); return how many."""
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM outcomes WHERE episode = ?", (episode,)).fetchone():
                return 0
            conn.execute(
                "INSERT INTO outcomes (episode, success, settled_at) VALUES (?, ?, ?)",
                (episode, int(success), self._clock()),
            )
            column = "alpha" if success else "beta"
            n = conn.execute(
                f"UPDATE items SET {column} = {column} + 1 "
                "WHERE id IN (SELECT item_id FROM exposures WHERE episode = ?)",
                (episode,),
            ).rowcount
        self._stats_stale = True
        return n

    # -- reading ----------------------------------------------------------------------------------

    def pending_episodes(self) -> list[str]:
        """Return the episodes that showed items and have no outcome yet."""
        with self._reading():
            return [
                r[0]
                for r in self._conn.execute(
                    "SELECT DISTINCT episode FROM exposures"
                    " WHERE episode NOT IN (SELECT episode FROM outcomes) ORDER BY episode"
                )
            ]

    def count(self, kind: Kind | None = None) -> int:
        """Return how many items there are (of ``kind``)."""
        with self._reading():
            if kind is None:
                return int(self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
            return int(self._conn.execute("SELECT COUNT(*) FROM items WHERE kind = ?", (kind,)).fetchone()[0])

    def items(
        self, ids: Sequence[int] | None = None, *, kind: Kind | None = None, limit: int | None = None
    ) -> list[Item]:
        """Return items (by id in the given order, or all, best utility first)."""
        cols = (
            "id, kind, family, app, split, instruction, steps, reasons, support, alpha, beta, shown,"
            " created_at, last_used_at"
        )
        with self._reading():
            if ids is not None:
                found = {}
                for i in ids:
                    row = self._conn.execute(f"SELECT {cols} FROM items WHERE id = ?", (int(i),)).fetchone()
                    if row is not None:
                        found[int(i)] = _item(row)
                return [found[int(i)] for i in ids if int(i) in found]
            sql = f"SELECT {cols} FROM items"
            params: list[Any] = []
            if kind is not None:
                sql += " WHERE kind = ?"
                params.append(kind)
            sql += " ORDER BY alpha / (alpha + beta) DESC, support DESC, id LIMIT ?"
            params.append(-1 if limit is None else limit)
            return [_item(r) for r in self._conn.execute(sql, params)]

    def get(self, item_id: int) -> Item:
        """Return one item with the runs that support it; MemoryIndexError if there is none."""
        found = self.items([item_id])
        if not found:
            raise MemoryIndexError(f"no memory item {item_id} in {self.path}")
        with self._reading():
            runs = tuple(
                r[0]
                for r in self._conn.execute(
                    "SELECT run_id FROM item_runs WHERE item_id = ? ORDER BY admitted_at", (item_id,)
                )
            )
        it = found[0]
        return Item(**{**it.__dict__, "runs": runs})

    def run_ids(self) -> dict[str, int]:
        """Return every admitted run id with its item id."""
        with self._reading():
            return {r[0]: int(r[1]) for r in self._conn.execute("SELECT run_id, item_id FROM item_runs")}

    def items_of_task(self, task_id: str) -> set[int]:
        """Return the ids of items supported by a run of task ``task_id``."""
        with self._reading():
            return {
                int(r[0])
                for r in self._conn.execute(
                    "SELECT DISTINCT item_id FROM item_runs WHERE task_id = ?", (task_id,)
                )
            }

    def step_vectors(self, item_id: int) -> Vector:
        """Return the (n_steps, 160) screen vectors of an item's steps."""
        with self._reading():
            row = self._conn.execute("SELECT step_vecs FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise MemoryIndexError(f"no memory item {item_id} in {self.path}")
        return np.frombuffer(row[0], dtype=np.float32).reshape(-1, SCREEN_DIM)

    def arrays(self) -> _Arrays:
        """Return the in-memory arrays, reloading them after writes (statistics reload cheaply)."""
        with self._reading():
            if self._arrays is None:
                self._arrays = self._load()
                self._stats_stale = True
            if self._stats_stale:
                self._load_stats(self._arrays)
                self._stats_stale = False
            return self._arrays

    def _load(self) -> _Arrays:
        rows = self._conn.execute(
            "SELECT id, app, kind, split, family, text_vec, screen_vec FROM items ORDER BY app, id"
        ).fetchall()
        n = len(rows)
        text = np.frombuffer(b"".join(r[5] for r in rows), dtype=np.float32).reshape(n, TEXT_DIM).copy()
        screen = np.frombuffer(b"".join(r[6] for r in rows), dtype=np.float32).reshape(n, SCREEN_DIM).copy()
        families: dict[str, int] = {}
        apps: dict[str, tuple[int, int]] = {}
        for i, r in enumerate(rows):
            start, _ = apps.get(r[1], (i, i))
            apps[r[1]] = (start, i + 1)
            families.setdefault(r[4], len(families))
        return _Arrays(
            ids=np.array([r[0] for r in rows], dtype=np.int64),
            text=text,
            screen=screen,
            positive=np.array([r[2] == "success" for r in rows], dtype=bool),
            evalsplit=np.array([r[3] == "eval" for r in rows], dtype=bool),
            family=np.array([families[r[4]] for r in rows], dtype=np.int32),
            families=families,
            apps=apps,
            row={int(r[0]): i for i, r in enumerate(rows)},
        )

    def _load_stats(self, arrays: _Arrays) -> None:
        alpha = np.ones(len(arrays.ids))
        beta = np.ones(len(arrays.ids))
        for item_id, a, b in self._conn.execute("SELECT id, alpha, beta FROM items WHERE shown > 0"):
            i = arrays.row.get(int(item_id))
            if i is not None:
                alpha[i], beta[i] = a, b
        arrays.alpha, arrays.beta = alpha, beta


def _blob(v: Vector, width: int) -> bytes:
    arr = np.ascontiguousarray(v, dtype=np.float32)
    if arr.size % width:
        raise MemoryIndexError(f"a vector of {arr.size} values is not a multiple of width {width}")
    return arr.tobytes()


def _item(row: Sequence[Any]) -> Item:
    return Item(
        id=int(row[0]), kind=row[1], family=row[2], app=row[3], split=row[4], instruction=row[5],
        steps=tuple(StepNote(a, t) for a, t in json.loads(row[6])), reasons=tuple(json.loads(row[7])),
        support=int(row[8]), alpha=float(row[9]), beta=float(row[10]), shown=int(row[11]),
        created_at=float(row[12]), last_used_at=None if row[13] is None else float(row[13]),
    )  # fmt: skip
