"""The trajectory database's schema, as an ordered list of migrations numbered by ``user_version``.

Migration *n* (1-based) turns a version *n-1* database into version *n*. They run at open
(``cua.store.sqlite.migrate``), each inside one ``BEGIN IMMEDIATE`` transaction that re-reads
the version first, so two processes opening a fresh store at once apply each migration exactly
once. Never edit a released migration: append a new one.

Times are REAL seconds since the epoch (UTC); JSON columns hold compact JSON text.
"""

from __future__ import annotations

import sqlite3

from cua.store import sqlite

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: runs, steps, verdicts.
    (
        """
        CREATE TABLE runs (
            id            TEXT PRIMARY KEY,
            created_at    REAL NOT NULL,
            finished_at   REAL,
            status        TEXT NOT NULL CHECK (status IN ('running', 'success', 'failure',
                              'needs_user', 'cancelled', 'error', 'interrupted')),
            instruction   TEXT NOT NULL,
            app           TEXT NOT NULL,
            task_id       TEXT,
            task_hash     TEXT,
            model         TEXT NOT NULL,       -- model name (checkpoint name or endpoint model)
            checkpoint    TEXT,                -- content hash of a local checkpoint
            endpoint      TEXT,                -- endpoint URL without credentials
            prompt_format TEXT NOT NULL,
            prompt_format_version TEXT NOT NULL,
            generation    TEXT NOT NULL,       -- JSON object
            seed          INTEGER,
            cua_version   TEXT NOT NULL,
            summary       TEXT NOT NULL DEFAULT '',
            final_shot    TEXT,                -- sha256 of the screen after the last action
            extra         TEXT NOT NULL,       -- JSON object, caller-defined
            owner_host    TEXT NOT NULL,       -- the recording process, to detect orphans
            owner_boot_id TEXT NOT NULL,
            owner_pid     INTEGER NOT NULL,
            owner_start_ticks INTEGER
        )
        """,
        "CREATE INDEX runs_status ON runs (status, id)",
        "CREATE INDEX runs_app ON runs (app, id)",
        "CREATE INDEX runs_task ON runs (task_id, id)",
        "CREATE INDEX runs_created ON runs (created_at)",
        """
        CREATE TABLE steps (
            run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            idx          INTEGER NOT NULL,
            started_at   REAL NOT NULL,
            recorded_at  REAL NOT NULL,
            screenshot   TEXT NOT NULL,        -- sha256 of the encoded file: shots/ab/<sha>.png
            thought      TEXT,
            raw_output   TEXT,
            action       TEXT,                 -- JSON object, opaque to the store
            parse_error  TEXT,
            hit          TEXT,                 -- JSON object, opaque: what a click hit
            timings      TEXT NOT NULL,        -- JSON object of milliseconds
            window_title TEXT,
            PRIMARY KEY (run_id, idx)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX steps_screenshot ON steps (screenshot)",
        """
        CREATE TABLE verdicts (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,   -- insertion order: newest wins
            run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            created_at  REAL NOT NULL,
            source      TEXT NOT NULL CHECK (source IN ('validator', 'judge', 'heuristic', 'person')),
            success     INTEGER CHECK (success IN (0, 1)),   -- NULL: unknown
            score       REAL,
            reasons     TEXT NOT NULL,                       -- JSON list of strings
            evidence    TEXT NOT NULL                        -- JSON object
        )
        """,
        "CREATE INDEX verdicts_run ON verdicts (run_id, id)",
    ),
    # 2: where a run came from, and who took each step (the agent, or a person who took over).
    (
        """
        ALTER TABLE runs ADD COLUMN source TEXT NOT NULL DEFAULT 'run'
            CHECK (source IN ('run', 'eval', 'explore', 'replay'))
        """,
        "CREATE INDEX runs_source ON runs (source, id)",
        """
        ALTER TABLE steps ADD COLUMN actor TEXT NOT NULL DEFAULT 'agent'
            CHECK (actor IN ('agent', 'person'))
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, *, name: str = "the trajectory database") -> int:
    """Bring the database on ``conn`` (autocommit mode) to :data:`SCHEMA_VERSION`; return the old version.

    Raises SchemaTooNew when the database is newer than this code, rather than guessing.
    """
    return sqlite.migrate(conn, MIGRATIONS, name=name)


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]
