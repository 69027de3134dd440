"""The SQLite helper shared by the trajectory store and the memory index: migrations and errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from cua.memory import ExperienceIndex, MemoryIndexError
from cua.store import SchemaTooNew, StoreError, StoreFull, TrajectoryStore
from cua.store.errors import StoreCorrupt, StoreLocked
from cua.store.sqlite import Database, migrate, user_version

MIGRATIONS = (
    ("CREATE TABLE a (x INTEGER)",),  # no IF NOT EXISTS: running a migration twice fails
    ("ALTER TABLE a ADD COLUMN y TEXT NOT NULL DEFAULT 'new'", "CREATE TABLE b (z BLOB)"),
)


def test_migrations_run_in_order_once_and_report_the_old_version(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", "test database")
    conn = db.connect()
    assert db.migrate(conn, MIGRATIONS[:1]) == 0
    conn.execute("INSERT INTO a (x) VALUES (1)")
    assert db.migrate(conn, MIGRATIONS) == 1
    assert db.migrate(conn, MIGRATIONS) == 2
    assert user_version(conn) == 2
    assert conn.execute("SELECT x, y FROM a").fetchall() == [(1, "new")]
    conn.close()


def test_concurrent_openers_apply_each_migration_exactly_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", "test database")
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def open_and_migrate() -> None:
        conn = db.connect()
        try:
            start.wait()
            db.migrate(conn, MIGRATIONS)
        except BaseException as exc:
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=open_and_migrate) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    conn = db.connect()
    assert user_version(conn) == 2
    conn.close()


def test_a_newer_file_is_refused_rather_than_guessed(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    conn = Database(tmp_path / "t.db", "test database").connect()
    with pytest.raises(SchemaTooNew, match=r"test database .* version 3, but this cua knows only up to 2"):
        migrate(conn, MIGRATIONS, name="the test database")
    conn.close()


def test_a_newer_memory_index_is_refused(tmp_path: Path) -> None:
    path = ExperienceIndex.path_beside(tmp_path)
    ExperienceIndex(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaTooNew, match=r"memory index .*upgrade cua"):
        ExperienceIndex(path)


@pytest.mark.parametrize("opener", [TrajectoryStore, ExperienceIndex.beside], ids=["store", "memory"])
def test_a_file_that_is_not_a_database_is_reported_as_corrupt(tmp_path: Path, opener: object) -> None:
    for folder, name in (("trajectories", "trajectories.db"), ("memory", "memory.sqlite")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(b"this is not a database, it is some text " * 200)
    with pytest.raises(StoreCorrupt, match="not a cua database"):
        opener(tmp_path)  # type: ignore[operator]


def test_a_lock_held_past_the_busy_timeout_is_store_locked(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", "test database", busy_timeout_s=0.1)
    conn = db.connect()
    db.migrate(conn, MIGRATIONS)
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLocked, match="locked by another process"), db.transaction(conn, "adding"):
            conn.execute("INSERT INTO a (x) VALUES (1)")
    finally:
        other.execute("ROLLBACK")
        other.close()
    with db.transaction(conn, "adding"):  # the lock is free again
        conn.execute("INSERT INTO a (x) VALUES (1)")
    conn.close()


def test_a_full_database_is_store_full_and_writes_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", "test database", error=MemoryIndexError)
    conn = db.connect()
    db.migrate(conn, MIGRATIONS)
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # a disk with two pages left
    with pytest.raises(StoreFull, match="full"), db.transaction(conn, "adding"):
        conn.execute("INSERT INTO b (z) VALUES (?)", (b"x" * 100_000,))
    assert conn.execute("SELECT COUNT(*) FROM b").fetchone()[0] == 0
    assert not conn.in_transaction
    conn.close()


def test_other_failures_are_the_owners_error(tmp_path: Path) -> None:
    with ExperienceIndex.beside(tmp_path) as index:
        other = sqlite3.connect(index.path)
        other.execute("DROP TABLE exposures")
        other.execute("DROP TABLE item_runs")
        other.execute("DROP TABLE items")
        other.commit()
        other.close()
        with pytest.raises(MemoryIndexError, match="no such table: items") as caught:
            index.count()
        assert isinstance(caught.value, StoreError)
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_the_store_keeps_its_own_full_disk_message(tmp_path: Path) -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    with TrajectoryStore(tmp_path, min_free_bytes=0, reserve_bytes=0) as store:
        error = store._translate(full, "adding a step")
    assert isinstance(error, StoreFull)
    assert "CUA_DATA_DIR" in str(error)  # shots.full_message: where the data lives, and what to do
