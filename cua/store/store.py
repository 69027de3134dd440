"""``TrajectoryStore``: every run, step and verdict, in SQLite (WAL) beside a folder of screenshots.

Layout under the data directory (``platformdirs.user_data_dir("cua")``, or ``$CUA_DATA_DIR``, or
the constructor's ``data_dir``)::

    trajectories/
        trajectories.db (+ -wal, -shm)   runs, steps, verdicts (schema in ``schema.py``; opened,
                                         migrated and its errors translated by ``sqlite.py``)
        shots/ab/<sha256>.png            screenshots, content-addressed (``shots.py``)
        shots/.lock                      flock between writers and gc/delete
        reserve                          a small ballast file, given up to finish runs on a full disk

Durability of ``add_step``: the screenshot is written to a temporary file, fsync'ed, renamed into
place and its folder fsync'ed; only then is the step row inserted and committed with
``synchronous=FULL`` (the WAL is fsync'ed at every commit). When ``add_step`` returns, the step
survives a crash of the process or of the machine. A crash between the two leaves at worst an
unreferenced file, which ``gc`` removes; a row never names a missing file.

Concurrency: one connection, serialised by a lock; several threads may record different runs at
once (encoding, the costly part, runs outside the lock). Other processes may use the same store:
SQLite's WAL locking and a busy timeout order their writes, and ``flock`` orders screenshot
writes against removals. Each run has one writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import platformdirs
from PIL import Image

from cua.store import shots
from cua.store.errors import RunNotFound, RunStateError, StoreError, StoreFull
from cua.store.ids import new_run_id
from cua.store.owner import ProcessIdentity
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
from cua.store.redaction import Redactor
from cua.store.schema import MIGRATIONS
from cua.store.sqlite import Database

T = TypeVar("T")

DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024
"""Recording stops (StoreFull) when a step would leave less than this free on the disk."""
DEFAULT_RESERVE_BYTES = 1024 * 1024
"""Size of the ballast file given up so that a run can be finished when the disk filled anyway."""
DB_NAME = "trajectories.db"
_NO_REDACTION = Redactor({})
_ROW_SLACK = 64 * 1024
"""Bytes a step row and its WAL frames may take, counted with the screenshot in the free-space check."""
_TYPICAL_SHOT = 256 * 1024
"""Room a new run needs for its first screenshot (a busy 1280x800 screen is ~250 KB as PNG)."""


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Return the cua data directory: ``data_dir`` if given, else ``$CUA_DATA_DIR``, else the platform's."""
    if data_dir is not None:
        return Path(data_dir)
    environ = os.environ if env is None else env
    if environ.get("CUA_DATA_DIR"):
        return Path(environ["CUA_DATA_DIR"])
    return Path(platformdirs.user_data_dir("cua", appauthor=False))


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime is ambiguous, give it a timezone: {value!r}")
    return value.timestamp()


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{what} must be plain JSON (dicts, lists, str, finite numbers, bool, None): {exc}"
        ) from exc


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_RUN_COLUMNS = """
    r.id, r.created_at, r.finished_at, r.status, r.instruction, r.app, r.task_id, r.task_hash,
    r.model, r.checkpoint, r.endpoint, r.prompt_format, r.prompt_format_version, r.generation,
    r.seed, r.cua_version, r.summary, r.final_shot, r.extra, r.owner_pid, r.source,
    (SELECT COUNT(*) FROM steps s WHERE s.run_id = r.id) AS step_count,
    v.id AS v_id, v.created_at AS v_created_at, v.source AS v_source, v.success AS v_success,
    v.score AS v_score, v.reasons AS v_reasons, v.evidence AS v_evidence
"""
_RUN_FROM = """
    FROM runs r LEFT JOIN verdicts v ON v.id = (SELECT MAX(id) FROM verdicts WHERE run_id = r.id)
"""
_STEP_COLUMNS = (
    "run_id, idx, started_at, recorded_at, screenshot, thought, raw_output, action, parse_error, "
    "hit, timings, window_title, actor"
)


def _verdict(row: Sequence[Any]) -> Verdict:
    vid, run_id, created, source, success, score, reasons, evidence = row
    return Verdict(
        id=vid,
        run_id=run_id,
        created_at=_ts(created),
        source=VerdictSource(source),
        success=None if success is None else bool(success),
        score=score,
        reasons=tuple(json.loads(reasons)),
        evidence=json.loads(evidence),
    )


def _run(row: sqlite3.Row) -> Run:
    verdict = None
    if row["v_id"] is not None:
        verdict = _verdict(
            (row["v_id"], row["id"], row["v_created_at"], row["v_source"], row["v_success"],
             row["v_score"], row["v_reasons"], row["v_evidence"])
        )  # fmt: skip
    return Run(
        id=row["id"],
        created_at=_ts(row["created_at"]),
        finished_at=None if row["finished_at"] is None else _ts(row["finished_at"]),
        status=RunStatus(row["status"]),
        instruction=row["instruction"],
        app=row["app"],
        task_id=row["task_id"],
        task_hash=row["task_hash"],
        provenance=Provenance(
            model=row["model"],
            checkpoint=row["checkpoint"],
            endpoint=row["endpoint"],
            prompt_format=row["prompt_format"],
            prompt_format_version=row["prompt_format_version"],
            generation=json.loads(row["generation"]),
            seed=row["seed"],
            cua_version=row["cua_version"],
        ),
        summary=row["summary"],
        final_screenshot=row["final_shot"],
        extra=json.loads(row["extra"]),
        pid=row["owner_pid"],
        step_count=row["step_count"],
        verdict=verdict,
        source=RunSource(row["source"]),
    )


def _step(row: Sequence[Any]) -> Step:
    run_id, idx, started, recorded, shot, thought, raw, action, perr, hit, timings, title, actor = row
    return Step(
        run_id=run_id,
        index=idx,
        started_at=_ts(started),
        recorded_at=_ts(recorded),
        screenshot=shot,
        thought=thought,
        raw_output=raw,
        action=_loads(action),
        parse_error=perr,
        hit=_loads(hit),
        timings=json.loads(timings),
        window_title=title,
        actor=Actor(actor),
    )


class TrajectoryStore:
    """The agent's record of every run: start, add steps, finish, judge, list, delete.

    ``data_dir`` defaults to ``$CUA_DATA_DIR`` (from ``env``, default ``os.environ``) or the
    platform's user data directory; the store lives in its ``trajectories/`` folder. Opening a
    store marks runs whose recording process has died as ``interrupted`` (their ids are in
    :attr:`recovered`). ``clock`` gives seconds since the epoch (injected for tests).

    ``min_free_bytes``: ``add_step`` and ``start_run`` raise StoreFull rather than leave less than
    this free on the disk (0 turns the check off). ``reserve_bytes``: size of the ballast file
    released when a finishing write (``finish_run``, ``add_verdict``) hits a really full disk.

    Secrets: ``start_run(..., secrets=)`` takes the run's resolved secret values; every text the
    run writes is passed through a :class:`~cua.store.redaction.Redactor` so only
    ``{{secret:NAME}}`` placeholders reach the disk. The values are kept in memory only.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ) -> None:
        self.data_dir = resolve_data_dir(data_dir, env)
        self.root = self.data_dir / "trajectories"
        try:
            if not self.root.is_dir():
                self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
                shots.fsync_dir(self.root.parent)  # the new folder's name is durable too
            self._shots = shots.ShotFiles(self.root)
        except OSError as exc:
            raise StoreError(
                f"cannot create the trajectory store in {self.root}: {exc.strerror}; "
                "set CUA_DATA_DIR to a writable directory"
            ) from exc
        self.db_path = self.root / DB_NAME
        self.min_free_bytes = min_free_bytes
        self.reserve_bytes = reserve_bytes
        self._clock = clock
        self._reserve = self.root / "reserve"
        self._lock = threading.RLock()
        self._owner = ProcessIdentity.current()
        self._redactors: dict[str, Redactor] = {}
        self._db = Database(self.db_path, "trajectory database", StoreError, self._full_message)
        self._conn = self._db.connect()
        try:
            self._db.migrate(self._conn, MIGRATIONS)
            self._ensure_reserve()
            self.recovered: tuple[str, ...] = tuple(self.recover_interrupted())
            """Runs this open found orphaned (their recorder died) and marked ``interrupted``."""
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing -----------------------------------------------------------------------------

    def _full_message(self, what: str) -> str:
        return shots.full_message(self.root, shots.free_bytes(self.root), what)

    def _translate(self, exc: sqlite3.Error, what: str) -> StoreError:
        """Turn a SQLite error into the store's error, with a message that says what to do."""
        return self._db.translate(exc, what)

    def _transact(
        self, what: str, body: Callable[[sqlite3.Connection], T], *, use_reserve: bool = False
    ) -> T:
        """Run ``body`` in one write transaction.

        With ``use_reserve``, a write that finds the disk full frees the ballast file and tries once more.
        """
        for attempt in range(2):
            try:
                with self._db.transaction(self._conn, what, self._lock) as conn:
                    return body(conn)
            except StoreFull:
                if attempt == 0 and use_reserve and self._release_reserve():
                    continue
                raise
        raise AssertionError("unreachable")

    def _read(self, sql: str, params: Sequence[Any] = (), *, rows: bool = False) -> list[Any]:
        with self._lock:
            try:
                cursor = self._conn.cursor()
                if rows:
                    cursor.row_factory = sqlite3.Row
                return cursor.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._translate(exc, "reading") from exc

    def _ensure_reserve(self) -> None:
        """Create the ballast file when there is room for it and it is missing."""
        if self.reserve_bytes <= 0 or self._reserve.exists():
            return
        if shots.free_bytes(self.root) < self.reserve_bytes + self.min_free_bytes:
            return
        tmp = self._reserve.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                chunk = b"\0" * min(self.reserve_bytes, 1 << 20)
                left = self.reserve_bytes
                while left > 0:
                    left -= f.write(chunk[:left])
            os.replace(tmp, self._reserve)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _release_reserve(self) -> bool:
        """Delete the ballast file to make room for a finishing write; return whether there was one."""
        try:
            self._reserve.unlink()
        except FileNotFoundError:
            return False
        return True

    def _check_room(self, needed: int, what: str) -> None:
        if self.min_free_bytes <= 0:
            return
        free = shots.free_bytes(self.root)
        if free < needed + _ROW_SLACK + self.min_free_bytes:
            raise StoreFull(shots.full_message(self.root, free, what))

    def _redactor(self, run_id: str) -> Redactor:
        with self._lock:
            return self._redactors.get(run_id, _NO_REDACTION)

    def _status(self, conn: sqlite3.Connection, run_id: str) -> RunStatus:
        try:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        except sqlite3.Error as exc:
            raise self._translate(exc, f"reading run {run_id}") from exc
        if row is None:
            raise RunNotFound(f"no run {run_id!r} in the trajectory store")
        return RunStatus(row[0])

    # -- recording ----------------------------------------------------------------------------

    def start_run(self, info: RunInfo, *, secrets: Mapping[str, str] | None = None) -> str:
        """Record the start of a run and return its id.

        ``secrets`` maps placeholder names to the resolved values this run may type; they are
        redacted from everything the run writes and never stored.
        """
        redactor = Redactor(secrets or {})
        prov = info.provenance
        self._check_room(_TYPICAL_SHOT, "starting a run")
        now = self._clock()
        owner = self._owner
        values = (
            now,
            redactor.text(info.instruction),
            info.app,
            info.task_id,
            info.task_hash,
            redactor.text(prov.model),
            prov.checkpoint,
            prov.endpoint and redactor.text(prov.endpoint),
            prov.prompt_format,
            prov.prompt_format_version,
            _dumps(redactor.json(prov.generation), "generation settings"),
            prov.seed,
            prov.cua_version,
            _dumps(redactor.json(info.extra), "RunInfo.extra"),
            owner.host,
            owner.boot_id,
            owner.pid,
            owner.start_ticks,
            RunSource(info.source).value,
        )

        def insert(conn: sqlite3.Connection) -> str:
            for _ in range(8):
                run_id = new_run_id(now)
                try:
                    conn.execute(
                        "INSERT INTO runs (id, status, created_at, instruction, app, task_id, task_hash, "
                        "model, checkpoint, endpoint, prompt_format, prompt_format_version, generation, "
                        "seed, cua_version, extra, owner_host, owner_boot_id, owner_pid, owner_start_ticks, "
                        "source) VALUES (?, 'running', " + ", ".join("?" * 19) + ")",
                        (run_id, *values),
                    )
                except sqlite3.IntegrityError:
                    continue  # an id collision (same millisecond, same 20 random bits): draw again
                return run_id
            raise StoreError("could not draw a free run id; is the clock stuck?")

        run_id = self._transact("starting a run", insert)
        if redactor:
            with self._lock:
                self._redactors[run_id] = redactor
        return run_id

    def add_step(self, run_id: str, record: StepRecord, screenshot: Image.Image) -> Step:
        """Record one step with the screenshot the policy saw; return it as stored.

        Durable before it returns (see the module docstring). The index is assigned here:
        0, 1, 2, ... in call order. Raises StoreFull (nothing written, earlier steps intact) when
        the disk is too full, RunStateError when the run is no longer running.
        """
        if not isinstance(screenshot, Image.Image):
            raise TypeError(f"screenshot must be a PIL image, got {type(screenshot).__name__}")
        red = self._redactor(run_id)
        action = None if record.action is None else _dumps(red.json(record.action), "StepRecord.action")
        hit = None if record.hit is None else _dumps(red.json(record.hit), "StepRecord.hit")
        timings = _dumps(dict(record.timings), "StepRecord.timings")
        texts = (
            red.optional(record.thought),
            red.optional(record.raw_output),
            red.optional(record.parse_error),
        )
        title = red.optional(record.window_title)
        actor = Actor(record.actor).value
        with self._lock:
            self._status_running(run_id, "add a step to")
        data = shots.encode(screenshot)  # the costly part, outside every lock
        sha = shots.digest(data)
        self._check_room(len(data), f"recording a step of run {run_id}")
        now = self._clock()
        started = now if record.started_at is None else _epoch(record.started_at)

        def insert(conn: sqlite3.Connection) -> int:
            self._status_running(run_id, "add a step to", conn)
            (index,) = conn.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM steps WHERE run_id = ?", (run_id,)
            ).fetchone()
            conn.execute(
                f"INSERT INTO steps ({_STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, index, started, now, sha, *texts[:2], action, texts[2], hit, timings, title, actor),
            )
            return int(index)

        with self._shots.adding():
            self._shots.put(data, sha)
            index = self._transact(f"recording a step of run {run_id}", insert)
        return _step(
            (run_id, index, started, now, sha, *texts[:2], action, texts[2], hit, timings, title, actor)
        )

    def _status_running(self, run_id: str, doing: str, conn: sqlite3.Connection | None = None) -> None:
        status = self._status(conn or self._conn, run_id)
        if status is not RunStatus.RUNNING:
            raise RunStateError(f"cannot {doing} run {run_id}: it is already finished ({status.value})")

    def finish_run(
        self,
        run_id: str,
        status: RunStatus | str,
        summary: str = "",
        *,
        final_screenshot: Image.Image | None = None,
    ) -> Run:
        """Mark a running run finished with ``status`` and a one-line ``summary``; return it.

        ``final_screenshot`` is the screen after the last action (what a judge looks at). This
        works on a full disk: the final screenshot is then skipped (said in the summary) and the
        ballast file is given up for the row update if needed.
        """
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise ValueError("finish_run needs a final status, not 'running'")
        text = self._redactor(run_id).text(summary)
        with self._lock:
            self._status_running(run_id, "finish")
        now = self._clock()

        def update(sha: str | None) -> Callable[[sqlite3.Connection], None]:
            def body(conn: sqlite3.Connection) -> None:
                self._status_running(run_id, "finish", conn)
                conn.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, summary = ?, final_shot = ? WHERE id = ?",
                    (final.value, now, text, sha, run_id),
                )

            return body

        if final_screenshot is None:
            self._transact(f"finishing run {run_id}", update(None), use_reserve=True)
        else:
            data = shots.encode(final_screenshot)
            sha = shots.digest(data)
            with self._shots.adding():
                try:
                    self._shots.put(data, sha)
                except StoreFull:
                    text = (text + " " if text else "") + "(final screenshot not saved: the disk is full)"
                    self._transact(f"finishing run {run_id}", update(None), use_reserve=True)
                else:
                    self._transact(f"finishing run {run_id}", update(sha), use_reserve=True)
        return self.get_run(run_id)

    def add_verdict(
        self,
        run_id: str,
        source: VerdictSource | str,
        success: bool | None,
        *,
        score: float | None = None,
        reasons: Iterable[str] = (),
        evidence: Mapping[str, Any] | None = None,
    ) -> Verdict:
        """Add a judgement of a run; all are kept and the newest added is the run's current verdict."""
        src = VerdictSource(source)
        red = self._redactor(run_id)
        reason_list = [red.text(str(r)) for r in reasons]
        reasons_json = _dumps(reason_list, "verdict reasons")
        evidence_json = _dumps(red.json(evidence or {}), "verdict evidence")
        flag = None if success is None else int(bool(success))
        now = self._clock()

        def insert(conn: sqlite3.Connection) -> int:
            self._status(conn, run_id)
            cursor = conn.execute(
                "INSERT INTO verdicts (run_id, created_at, source, success, score, reasons, evidence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, now, src.value, flag, score, reasons_json, evidence_json),
            )
            return int(cursor.lastrowid or 0)

        vid = self._transact(f"adding a verdict to run {run_id}", insert, use_reserve=True)
        return _verdict((vid, run_id, now, src.value, flag, score, reasons_json, evidence_json))

    def recover_interrupted(self) -> list[str]:
        """Mark ``interrupted`` every running run whose recording process is gone; return their ids.

        Called on open; a long-lived process (the UI) may call it again. Runs recorded on another
        host are left alone (their recorder cannot be checked from here).
        """
        rows = self._read(
            "SELECT id, owner_host, owner_boot_id, owner_pid, owner_start_ticks FROM runs "
            "WHERE status = 'running'"
        )
        dead = [
            (run_id, pid, host)
            for run_id, host, boot, pid, ticks in rows
            if ProcessIdentity(host, boot, pid, ticks).is_alive() is False
        ]
        stamp = _ts(self._clock()).isoformat(timespec="seconds")
        for run_id, pid, host in dead:
            why = (
                f"interrupted: the recording process (pid {pid} on {host}) ended without finishing "
                f"the run; found by the store at {stamp}"
            )

            def mark(conn: sqlite3.Connection, run_id: str = run_id, why: str = why) -> None:
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', summary = ?, finished_at = COALESCE("
                    "(SELECT MAX(recorded_at) FROM steps WHERE run_id = runs.id), created_at) "
                    "WHERE id = ? AND status = 'running'",
                    (why, run_id),
                )

            self._transact(f"marking run {run_id} interrupted", mark, use_reserve=True)
        return [run_id for run_id, _, _ in dead]

    # -- reading ------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        """Return the run ``run_id`` with its step count and current verdict."""
        rows = self._read(f"SELECT {_RUN_COLUMNS} {_RUN_FROM} WHERE r.id = ?", (run_id,), rows=True)
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in the trajectory store at {self.root}")
        return _run(rows[0])

    def list_runs(
        self,
        *,
        status: RunStatus | str | Iterable[RunStatus | str] | None = None,
        app: str | None = None,
        task_id: str | None = None,
        source: RunSource | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        success: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Run]:
        """Return runs matching every given filter, newest first.

        ``status`` is one status or several; ``source`` is what started the run (run, eval,
        explore, replay); ``since``/``until`` bound the creation time
        (inclusive/exclusive); ``success`` filters on the current verdict (runs never judged
        match neither True nor False).
        """
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            values = [RunStatus(s).value for s in wanted]
            where.append(f"r.status IN ({', '.join('?' * len(values))})")
            params += values
        source = None if source is None else RunSource(source).value
        for column, value in (("r.app", app), ("r.task_id", task_id), ("r.source", source)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("r.created_at >= ?")
            params.append(_epoch(since))
        if until is not None:
            where.append("r.created_at < ?")
            params.append(_epoch(until))
        if success is not None:
            where.append("v.success = ?")
            params.append(int(success))
        sql = f"SELECT {_RUN_COLUMNS} {_RUN_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.created_at DESC, r.id DESC LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]
        return [_run(row) for row in self._read(sql, params, rows=True)]

    def steps(self, run_id: str, *, start: int = 0) -> list[Step]:
        """Return the steps of ``run_id`` in order, from index ``start`` (for following a live run)."""
        rows = self._read(
            f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? AND idx >= ? ORDER BY idx", (run_id, start)
        )
        if not rows and not self._read("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
            raise RunNotFound(f"no run {run_id!r} in the trajectory store at {self.root}")
        return [_step(row) for row in rows]

    def verdicts(self, run_id: str) -> list[Verdict]:
        """Return every verdict of ``run_id``, oldest first (the last one is the current verdict)."""
        rows = self._read(
            "SELECT id, run_id, created_at, source, success, score, reasons, evidence "
            "FROM verdicts WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return [_verdict(row) for row in rows]

    def screenshot(self, sha: str) -> Image.Image:
        """Return the screenshot with content hash ``sha`` (``Step.screenshot``) as an image."""
        return self._shots.open(sha)

    def screenshot_bytes(self, sha: str) -> bytes:
        """Return the encoded (PNG) bytes of screenshot ``sha``, unchanged."""
        return self._shots.read(sha)

    def screenshot_path(self, sha: str) -> Path:
        """Return the file of screenshot ``sha`` (read-only: the store owns it)."""
        return self._shots.path(sha)

    # -- housekeeping -------------------------------------------------------------------------

    def delete_run(self, run_id: str) -> GcReport:
        """Delete a finished run, its steps, verdicts and the screenshots no other run uses.

        A run still being recorded by a live process cannot be deleted (RunStateError): stop it first.
        """
        rows = self._read(
            "SELECT status, owner_host, owner_boot_id, owner_pid, owner_start_ticks FROM runs WHERE id = ?",
            (run_id,),
        )
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in the trajectory store at {self.root}")
        status, host, boot, pid, ticks = rows[0]
        if status == RunStatus.RUNNING and ProcessIdentity(host, boot, pid, ticks).is_alive() is not False:
            raise RunStateError(f"run {run_id} is still being recorded by pid {pid} on {host}; stop it first")

        def delete(conn: sqlite3.Connection) -> set[str]:
            shas = {r[0] for r in conn.execute("SELECT screenshot FROM steps WHERE run_id = ?", (run_id,))}
            shas |= {
                r[0] for r in conn.execute("SELECT final_shot FROM runs WHERE id = ?", (run_id,)) if r[0]
            }
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))  # steps, verdicts: ON DELETE CASCADE
            return shas

        shas = self._transact(f"deleting run {run_id}", delete, use_reserve=True)
        with self._lock:
            self._redactors.pop(run_id, None)
        files = freed = 0
        with self._shots.removing():
            for sha in sorted(shas):
                if self._referenced(sha):
                    continue
                path = self._shots.path(sha)
                with contextlib.suppress(FileNotFoundError):
                    size = path.stat().st_size
                    path.unlink()
                    files, freed = files + 1, freed + size
        self._ensure_reserve()
        return GcReport(files=files, bytes=freed)

    def _referenced(self, sha: str) -> bool:
        return bool(
            self._read(
                "SELECT 1 FROM steps WHERE screenshot = ? "
                "UNION ALL SELECT 1 FROM runs WHERE final_shot = ? LIMIT 1",
                (sha, sha),
            )
        )

    def gc(self) -> GcReport:
        """Remove screenshot files no row references (left by crashes) and stale temporary files."""
        files = freed = 0
        with self._shots.removing():
            used = {r[0] for r in self._read("SELECT DISTINCT screenshot FROM steps")}
            used |= {r[0] for r in self._read("SELECT final_shot FROM runs WHERE final_shot IS NOT NULL")}
            for path, sha, size in list(self._shots.files()):
                if sha is not None and sha in used:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    files, freed = files + 1, freed + size
        self._ensure_reserve()
        return GcReport(files=files, bytes=freed)

    def disk_usage(self) -> DiskUsage:
        """Return how many bytes the database and the screenshots take, and what is left on the disk."""
        db = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                db += (self.root / (DB_NAME + suffix)).stat().st_size
        count = size = 0
        for _, sha, nbytes in self._shots.files():
            if sha is not None:
                count, size = count + 1, size + nbytes
        return DiskUsage(
            database_bytes=db,
            screenshot_files=count,
            screenshot_bytes=size,
            free_bytes=shots.free_bytes(self.root),
        )

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TrajectoryStore({str(self.data_dir)!r})"


__all__ = ["DEFAULT_MIN_FREE_BYTES", "DEFAULT_RESERVE_BYTES", "TrajectoryStore", "resolve_data_dir"]
