"""The exploration state: one SQLite file (WAL) in the data directory, readable while it runs.

``explore.sqlite`` holds the explorations (one per application and settings), every walk, every
candidate with the admission decision and its reason, the admitted tasks (each also written
as a task file under ``synth/<app>/``; a template task is admitted unproven and marked proven,
with the run, by the first attempt that passes), and the curriculum's decisions. A walk is recorded when
it is finished, with everything derived from it, in one transaction: a killed exploration
loses only the walks in flight and the same command carries on from the next walk number.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS explorations (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    settings TEXT NOT NULL,
    started REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS walks (
    exploration TEXT NOT NULL,
    number INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    moves TEXT NOT NULL,
    ended TEXT NOT NULL,
    seconds REAL NOT NULL,
    finished REAL NOT NULL,
    PRIMARY KEY (exploration, number)
);
CREATE TABLE IF NOT EXISTS candidates (
    exploration TEXT NOT NULL,
    walk INTEGER NOT NULL,
    kind TEXT NOT NULL,
    validator_key TEXT NOT NULL,
    instruction TEXT NOT NULL,
    admitted INTEGER NOT NULL,
    reason TEXT NOT NULL,
    reason_kind TEXT NOT NULL,
    task_id TEXT,
    chain INTEGER NOT NULL,
    seconds REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    kind TEXT NOT NULL,
    validator_key TEXT NOT NULL,
    instruction TEXT NOT NULL,
    path TEXT NOT NULL,
    chain INTEGER NOT NULL,
    exploration TEXT NOT NULL,
    created REAL NOT NULL,
    proven INTEGER NOT NULL DEFAULT 1,
    generated TEXT NOT NULL DEFAULT 'walk',
    proven_by TEXT,
    UNIQUE (app, validator_key)
);
CREATE TABLE IF NOT EXISTS decisions (
    exploration TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    decision TEXT NOT NULL,
    figures TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    exploration TEXT NOT NULL,
    task_id TEXT NOT NULL,
    app TEXT NOT NULL,
    kind TEXT NOT NULL,
    policy TEXT NOT NULL,
    success INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    seconds REAL NOT NULL,
    run_id TEXT,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    exploration TEXT NOT NULL,
    number INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (exploration, number)
);
CREATE INDEX IF NOT EXISTS candidates_by_exploration ON candidates (exploration, walk);
"""
#: Columns added to ``tasks`` since the first schema, with their definitions (an older file gains them).
TASK_COLUMNS_ADDED = {
    "proven": "INTEGER NOT NULL DEFAULT 1",
    "generated": "TEXT NOT NULL DEFAULT 'walk'",
    "proven_by": "TEXT",
}


#: Decision kinds besides the curriculum's (whose kind is a task kind).
MEMORY = "memory"
"""An attempt admitted to (or kept out of) the experience memory."""
ROUND = "learning round"
"""A learning round's gate decision: 'promoted' or 'kept'."""


def _growth(memory: list[tuple[float, str, str, dict[str, Any]]]) -> list[tuple[float, int, str, int]]:
    """Return (time, walk, what happened, items after it) of the memory decisions that left a count."""
    return [
        (at, int(f.get("walk", 0)), d, int(f["items"]))
        for at, _, d, f in memory
        if "items" in f  # an admission that failed (said why) left no count
    ]


@dataclass(frozen=True)
class TaskRow:
    """An admitted task as the database lists it."""

    id: str
    app: str
    kind: str
    instruction: str
    path: str
    chain: int
    proven: bool = True
    """Proven by its own demonstration, or (a template) by an attempt that passed."""
    generated: str = "walk"
    """``walk`` (a demonstration: a walk's or a composed one) or ``template`` (no oracle)."""


class ExploreDB:
    """The exploration database; safe to share between the threads of one exploration."""

    def __init__(self, path: Path) -> None:
        """Open (creating) ``path``; WAL mode, so a reader (the app, a report) never blocks it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        have = {r[1] for r in self._conn.execute("PRAGMA table_info(tasks)")}
        for column, definition in TASK_COLUMNS_ADDED.items():
            if column not in have:  # a file an earlier version wrote: its tasks were all proven walks
                self._conn.execute(f"ALTER TABLE tasks ADD COLUMN {column} {definition}")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, args))

    # -- explorations ---------------------------------------------------------------------
    def open_exploration(self, exploration: str, app: str, settings: Mapping[str, Any]) -> bool:
        """Create the exploration, or resume it; return True when it already existed."""
        now = time.time()
        with self._tx() as c:
            found = c.execute("SELECT 1 FROM explorations WHERE id = ?", (exploration,)).fetchone()
            if found:
                c.execute(
                    "UPDATE explorations SET status = 'running', updated = ? WHERE id = ?", (now, exploration)
                )
            else:
                c.execute(
                    "INSERT INTO explorations VALUES (?, ?, ?, ?, ?, 'running')",
                    (exploration, app, json.dumps(dict(settings), sort_keys=True), now, now),
                )
        return found is not None

    def set_status(self, exploration: str, status: str) -> None:
        """Mark the exploration finished, stopped, or failed."""
        with self._tx() as c:
            c.execute(
                "UPDATE explorations SET status = ?, updated = ? WHERE id = ?",
                (status, time.time(), exploration),
            )

    def explorations(self) -> list[dict[str, Any]]:
        """Return every exploration with its settings and status, newest first."""
        rows = self._rows(
            "SELECT id, app, settings, started, updated, status FROM explorations ORDER BY started DESC"
        )
        return [
            {
                "id": r[0],
                "app": r[1],
                "settings": json.loads(r[2]),
                "started": r[3],
                "updated": r[4],
                "status": r[5],
            }
            for r in rows
        ]

    # -- walks ------------------------------------------------------------------------------
    def done_walks(self, exploration: str) -> set[int]:
        """Return the numbers of the walks already recorded."""
        return {r[0] for r in self._rows("SELECT number FROM walks WHERE exploration = ?", (exploration,))}

    def claim(self, exploration: str, number: int) -> None:
        """Note that walk ``number`` started (a walk claimed and never recorded was lost to a crash)."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", (exploration, number, time.time()))

    def lost_walks(self, exploration: str) -> list[int]:
        """Return the walks started but not recorded (in flight when the process died, or now)."""
        rows = self._rows(
            "SELECT number FROM claims WHERE exploration = ? AND number NOT IN"
            " (SELECT number FROM walks WHERE exploration = ?) ORDER BY number",
            (exploration, exploration),
        )
        return [r[0] for r in rows]

    def record_walk(
        self,
        exploration: str,
        number: int,
        seed: int,
        moves: Sequence[str],
        ended: str,
        seconds: float,
        candidates: Sequence[Mapping[str, Any]],
        tasks: Sequence[Mapping[str, Any]],
    ) -> None:
        """Record a finished walk with its candidates and newly admitted tasks, atomically."""
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO walks VALUES (?, ?, ?, ?, ?, ?, ?)",
                (exploration, number, seed, json.dumps(list(moves)), ended, seconds, now),
            )
            c.execute("DELETE FROM candidates WHERE exploration = ? AND walk = ?", (exploration, number))
            for cand in candidates:
                c.execute(
                    "INSERT INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        exploration,
                        number,
                        cand["kind"],
                        cand["validator_key"],
                        cand["instruction"],
                        int(cand["admitted"]),
                        cand["reason"],
                        cand["reason_kind"],
                        cand.get("task_id"),
                        cand["chain"],
                        cand["seconds"],
                    ),
                )
            for task in tasks:
                c.execute(
                    "INSERT OR IGNORE INTO tasks (id, app, kind, validator_key, instruction, path, chain,"
                    " exploration, created, proven, generated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        task["id"],
                        task["app"],
                        task["kind"],
                        task["validator_key"],
                        task["instruction"],
                        task["path"],
                        task["chain"],
                        exploration,
                        now,
                        int(task.get("proven", True)),
                        task.get("generated", "walk"),
                    ),
                )
            c.execute("UPDATE explorations SET updated = ? WHERE id = ?", (now, exploration))

    # -- tasks and figures ------------------------------------------------------------------
    def known_validators(self, app: str) -> set[str]:
        """Return the validator keys of the tasks already admitted for ``app`` (duplicates)."""
        return {r[0] for r in self._rows("SELECT validator_key FROM tasks WHERE app = ?", (app,))}

    def tasks(self, app: str | None = None) -> list[TaskRow]:
        """Return the admitted tasks (of ``app``), oldest first."""
        sql = "SELECT id, app, kind, instruction, path, chain, proven, generated FROM tasks"
        rows = (
            self._rows(sql + " WHERE app = ? ORDER BY created", (app,))
            if app
            else self._rows(sql + " ORDER BY created")
        )
        return [TaskRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7]) for r in rows]

    def mark_proven(self, task_id: str, run_id: str | None, steps: int) -> bool:
        """Record that an attempt (run ``run_id``, ``steps`` steps) proved an unproven task.

        Returns whether it was unproven. The task's chain becomes the attempt's length.
        """
        with self._tx() as c:
            cur = c.execute(
                "UPDATE tasks SET proven = 1, proven_by = ?, chain = ? WHERE id = ? AND proven = 0",
                (run_id, steps, task_id),
            )
            return cur.rowcount > 0

    def summary(self, exploration: str) -> dict[str, Any]:
        """Return the figures of one exploration: walks, candidates, admitted, kinds, rejections."""
        walks = self._rows(
            "SELECT COUNT(*), COALESCE(SUM(seconds), 0) FROM walks WHERE exploration = ?", (exploration,)
        )[0]
        # Kinds and chains count proven tasks only: an unproven template shows nothing yet.
        admitted = self._rows(
            "SELECT COUNT(*), COALESCE(SUM(proven), 0), COUNT(DISTINCT CASE WHEN proven THEN kind END),"
            " COALESCE(SUM(proven AND chain >= 3), 0), COALESCE(SUM(generated = 'template'), 0),"
            " COALESCE(SUM(generated = 'template' AND proven), 0) FROM tasks WHERE exploration = ?",
            (exploration,),
        )[0]
        rejected = dict(
            self._rows(
                "SELECT reason_kind, COUNT(*) FROM candidates WHERE exploration = ? AND admitted = 0"
                " GROUP BY reason_kind",
                (exploration,),
            )
        )
        candidates = self._rows("SELECT COUNT(*) FROM candidates WHERE exploration = ?", (exploration,))[0][0]
        tried = self._rows(
            "SELECT COUNT(*), COALESCE(SUM(success), 0) FROM attempts WHERE exploration = ?", (exploration,)
        )[0]
        memory = self.decisions(exploration, MEMORY)  # read once: the growth and the failures
        growth = _growth(memory)
        rounds = self.learning_rounds(exploration)
        failed = [d for _, _, d, f in memory if "items" not in f]
        return {
            "memory_items": growth[-1][3] if growth else None,
            "memory_admitted": sum(1 for *_, d, _ in growth if d in ("success", "pitfall")),
            "memory_failed": len(failed),
            "rounds": len(rounds),
            "rounds_promoted": sum(1 for r in rounds if r["decision"] == "promoted"),
            "attempts": tried[0],
            "attempt_successes": tried[1],
            "walks": walks[0],
            "walk_seconds": round(walks[1], 1),
            "candidates": candidates,
            "admitted_tasks": admitted[0],
            "proven_tasks": admitted[1],
            "task_kinds": admitted[2],
            "chains_3plus": admitted[3],
            "template_tasks": admitted[4],
            "templates_proven": admitted[5],
            "rejected": rejected,
        }

    def record_attempt(
        self,
        exploration: str,
        task: TaskRow,
        policy: str,
        success: bool,
        steps: int,
        seconds: float,
        run_id: str | None,
    ) -> None:
        """Record one attempt at an admitted task (its run is in the trajectory store)."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    exploration,
                    task.id,
                    task.app,
                    task.kind,
                    policy,
                    int(success),
                    steps,
                    seconds,
                    run_id,
                    time.time(),
                ),
            )

    def attempts(self, app: str) -> list[tuple[str, str, bool, float]]:
        """Return (task id, kind, success, time) of every attempt at ``app``'s tasks, oldest first."""
        rows = self._rows("SELECT task_id, kind, success, at FROM attempts WHERE app = ? ORDER BY at", (app,))
        return [(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def decisions(
        self, exploration: str, kind: str | None = None
    ) -> list[tuple[float, str, str, dict[str, Any]]]:
        """Return the logged decisions (time, kind, decision, figures), oldest first; only ``kind``'s."""
        sql = "SELECT at, kind, decision, figures FROM decisions WHERE exploration = ?"
        args: tuple[str, ...] = (exploration,)
        if kind is not None:
            sql, args = sql + " AND kind = ?", (exploration, kind)
        rows = self._rows(sql + " ORDER BY at", args)
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def memory_growth(self, exploration: str) -> list[tuple[float, int, str, int]]:
        """Return (time, walk, what happened, items after it) of each attempt memory took or turned away."""
        return _growth(self.decisions(exploration, MEMORY))

    def learning_rounds(self, exploration: str) -> list[dict[str, Any]]:
        """Return each learning round's gate decision (at, decision, and its figures), oldest first."""
        return [{"at": at, "decision": d, **f} for at, _, d, f in self.decisions(exploration, ROUND)]

    def record_decision(self, exploration: str, kind: str, decision: str, figures: Mapping[str, Any]) -> None:
        """Log one curriculum decision with the figures it was made on."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO decisions VALUES (?, ?, ?, ?, ?)",
                (exploration, time.time(), kind, decision, json.dumps(dict(figures), sort_keys=True)),
            )
