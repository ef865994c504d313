"""Local state in SQLite, so that a restart neither loses nor duplicates a job.

Each drop is one row, keyed by the job's file id, written *before* its job
record is created; each confirmed chunk is a row of its own until the upload
is complete. The signed job is kept as the JSON of its fields. A crash at any
point leaves enough to resume: re-stage, re-create (idempotent), upload the
chunks not yet confirmed, or go on waiting for the result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from shared.disk import disk_full
from shared.errors import FpwError, IntegrityError
from shared.record import Job, validate

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS drops (
    file_id     TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    name        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    source      TEXT NOT NULL,
    params      TEXT NOT NULL,
    phase       TEXT NOT NULL,
    job         TEXT,
    recorded    TEXT,
    error       TEXT,
    result_path TEXT,
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    result_type TEXT
);
CREATE INDEX IF NOT EXISTS drops_phase ON drops (phase);
CREATE INDEX IF NOT EXISTS drops_fingerprint ON drops (fingerprint);
CREATE TABLE IF NOT EXISTS uploaded (
    file_id TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (file_id, n)
);
-- Drops the user removed from the jobs list (the row itself is kept: it
-- still guards against taking the same drop twice).
CREATE TABLE IF NOT EXISTS hidden (
    file_id TEXT PRIMARY KEY
);
-- A drop sent again in place of an earlier one (its job record was lost):
-- which one it replaces, and how many times the file has been sent again.
CREATE TABLE IF NOT EXISTS lineage (
    file_id  TEXT PRIMARY KEY,
    previous TEXT NOT NULL,
    resends  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS lineage_previous ON lineage (previous);
"""


# Columns added since the first schema, with their type; and columns renamed.
ADDED = {"result_type": "TEXT"}
RENAMED = {"remote": "recorded"}
COLUMNS = (
    "file_id, path, name, fingerprint, source, params, phase, job, recorded, error,"
    " result_path, created, updated, result_type"
)
FIELDS = COLUMNS.split(", ")
# The columns ``State.update`` may set: not what the drop is (``updated`` is set by each).
UPDATABLE = set(FIELDS) - {"file_id", "name", "source", "params", "created", "updated"}


class StateError(FpwError):
    """A row of the state database cannot be read."""


class Phase(StrEnum):
    STAGING = "STAGING"
    """Known locally; chunks are being prepared (nothing sent yet)."""
    UPLOADING = "UPLOADING"
    """Signed job known; the record and chunks are being sent."""
    WAITING = "WAITING"
    """Everything uploaded; waiting for the result."""
    DONE = "DONE"
    FAILED = "FAILED"
    SUPERSEDED = "SUPERSEDED"
    """Replaced by a newer drop of the same file (it changed, or its record was
    lost); its result, if one comes, is not saved."""

    @property
    def finished(self) -> bool:
        return self in (Phase.DONE, Phase.FAILED, Phase.SUPERSEDED)


@dataclass
class Drop:
    file_id: str
    path: Path
    name: str
    fingerprint: str
    source: str
    params: dict[str, Any]
    phase: Phase
    job: Job | None
    """The signed job, once staged."""
    recorded: bool
    """Its job record is in the table (created by this drop)."""
    error: str | None
    result_path: Path | None
    created: float
    updated: float
    result_type: str | None = None
    """The media type of the saved result, as the analysis container gave it."""


FINISHED = (Phase.DONE.value, Phase.FAILED.value, Phase.SUPERSEDED.value)

# What the state database asks of a full disk before it can write again.
DB_ROOM_BYTES = 1024 * 1024


class State:
    """Thread-safe access to the state database (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._upgrade()

    def _upgrade(self) -> None:
        """Bring a database written by an earlier version to this schema."""
        have = {str(row[1]) for row in self._db.execute("PRAGMA table_info(drops)")}
        for old, new in RENAMED.items():
            if old in have:
                self._db.execute(f"ALTER TABLE drops RENAME COLUMN {old} TO {new}")
        for name, kind in ADDED.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE drops ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._lock, self._writing():
            return self._db.execute(sql, args).rowcount

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that a full disk refuses raises ``DiskFullError``; SQLite keeps the
        database as it was, so the write can simply be tried again."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
                raise
            raise disk_full(
                self.path.parent, DB_ROOM_BYTES, "the state database", setting="client.state_dir"
            ) from exc

    def add(self, drop: Drop) -> bool:
        """Record a new drop; False when an unfinished drop has the same fingerprint."""
        with self._lock, self._writing():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                clash = self._db.execute(
                    "SELECT 1 FROM drops WHERE fingerprint = ? AND phase NOT IN (?, ?, ?)",
                    (drop.fingerprint, *FINISHED),
                ).fetchone()
                if clash:
                    self._db.execute("ROLLBACK")
                    return False
                values = tuple(_stored(name, getattr(drop, name)) for name in FIELDS)
                self._db.execute(
                    f"INSERT INTO drops ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite ends it itself after some errors
                    self._db.execute("ROLLBACK")
                raise
        return True

    def update(
        self, file_id: str, now: float, *, expect: Phase | None = None, **fields: Any
    ) -> bool:
        """Set ``fields``; with ``expect``, only while the drop is in that phase (a drop
        superseded meanwhile keeps its phase). True when the row changed."""
        sets, args = [], []
        for name, value in fields.items():
            if name not in UPDATABLE:
                raise ValueError(name)
            sets.append(f"{name} = ?")
            args.append(_stored(name, value))
        sets.append("updated = ?")
        args.append(now)
        where = "file_id = ?"
        args.append(file_id)
        if expect is not None:
            where += " AND phase = ?"
            args.append(expect.value)
        return self._run(f"UPDATE drops SET {', '.join(sets)} WHERE {where}", tuple(args)) > 0

    def get(self, file_id: str) -> Drop | None:
        rows = self._rows("SELECT * FROM drops WHERE file_id = ?", (file_id,))
        return _drop(rows[0]) if rows else None

    def in_phase(self, *phases: Phase) -> list[Drop]:
        marks = ",".join("?" for _ in phases)
        rows = self._rows(
            f"SELECT * FROM drops WHERE phase IN ({marks}) ORDER BY created",
            tuple(p.value for p in phases),
        )
        return _readable(rows)

    def backlog_before(self, drop: Drop) -> int:
        """Unfinished drops taken before ``drop``: its place in this client's queue."""
        unfinished = [p.value for p in Phase if not p.finished]
        rows = self._rows(
            "SELECT COUNT(*) FROM drops WHERE phase IN (?, ?, ?)"
            " AND (created < ? OR (created = ? AND file_id < ?))",
            (*unfinished, drop.created, drop.created, drop.file_id),
        )
        return int(rows[0][0])

    def visible(self, limit: int = 1000) -> list[Drop]:
        """Newest first, without the drops the user removed from the list."""
        rows = self._rows(
            "SELECT * FROM drops WHERE file_id NOT IN (SELECT file_id FROM hidden)"
            " ORDER BY created DESC LIMIT ?",
            (limit,),
        )
        return _readable(rows)

    def unfinished_at(self, path: Path, source: str) -> list[Drop]:
        """Unfinished drops of the file at ``path`` taken from ``source``, oldest first."""
        rows = self._rows(
            "SELECT * FROM drops WHERE path = ? AND source = ? AND phase NOT IN (?, ?, ?)"
            " ORDER BY created",
            (str(path), source, *FINISHED),
        )
        return _readable(rows)

    def note_resend(self, file_id: str, previous: str, resends: int) -> None:
        self._run("INSERT OR REPLACE INTO lineage VALUES (?, ?, ?)", (file_id, previous, resends))

    def resends(self, file_id: str) -> int:
        """How many times the file of ``file_id`` was sent again before it."""
        rows = self._rows("SELECT resends FROM lineage WHERE file_id = ?", (file_id,))
        return int(rows[0][0]) if rows else 0

    def successor(self, file_id: str) -> str | None:
        """The drop sent in place of ``file_id``, if any."""
        rows = self._rows("SELECT file_id FROM lineage WHERE previous = ?", (file_id,))
        return str(rows[0][0]) if rows else None

    def hide(self, file_id: str) -> None:
        self._run("INSERT OR IGNORE INTO hidden VALUES (?)", (file_id,))

    def confirm_chunk(self, file_id: str, n: int) -> None:
        self._run("INSERT OR IGNORE INTO uploaded VALUES (?, ?)", (file_id, n))

    def confirmed_chunks(self, file_id: str) -> set[int]:
        rows = self._rows("SELECT n FROM uploaded WHERE file_id = ?", (file_id,))
        return {int(r["n"]) for r in rows}

    def forget_chunks(self, file_id: str) -> None:
        """Once a drop's chunks are all up (or it failed), their rows are not needed."""
        self._run("DELETE FROM uploaded WHERE file_id = ?", (file_id,))


def _stored(name: str, value: Any) -> Any:
    """A ``Drop`` field as its column holds it."""
    if isinstance(value, Phase):
        return value.value
    if isinstance(value, Job):
        return job_json(value)
    if name == "recorded":
        return "created" if value else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def job_json(job: Job) -> str:
    """The signed job as kept: its signed fields, signature and queue placement."""
    data = job.signed_fields()
    data.update(signature=job.signature, queue=job.queue, rank=job.rank, expires=job.expires)
    return json.dumps(data)


def job_from_json(text: str) -> Job:
    """The signed job kept in the state database; a damaged copy fails its drop clearly."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("the job is not a JSON object")
        job = Job(**data)
        validate(job)
    except (TypeError, ValueError, RecursionError, IntegrityError) as exc:
        raise IntegrityError(
            f"the local copy of this job is damaged ({exc}); send the file again"
        ) from exc
    return job


def _drop(row: sqlite3.Row) -> Drop:
    """One row as a ``Drop``; a damaged row (disk fault, hand edit) raises ``StateError``."""
    try:
        params = json.loads(_text(row["params"]))
        if not isinstance(params, dict):
            raise ValueError("params must be a JSON object")
        job = job_from_json(_text(row["job"])) if row["job"] else None
        for name in ("created", "updated"):
            if isinstance(row[name], bool) or not isinstance(row[name], int | float):
                raise ValueError(f"{name} is not a time")
        return Drop(
            file_id=_text(row["file_id"]),
            path=Path(_text(row["path"])),
            name=_text(row["name"]),
            fingerprint=_text(row["fingerprint"]),
            source=_text(row["source"]),
            params=params,
            phase=Phase(row["phase"]),
            job=job,
            recorded=row["recorded"] is not None,
            error=_text(row["error"]) if row["error"] is not None else None,
            result_path=Path(_text(row["result_path"])) if row["result_path"] else None,
            created=float(row["created"]),
            updated=float(row["updated"]),
            result_type=_text(row["result_type"]) if row["result_type"] is not None else None,
        )
    except (TypeError, ValueError, RecursionError, IntegrityError) as exc:
        raise StateError(
            f"the local record of job {str(row['file_id'])[:64]} is damaged: {exc}",
            hint="the other jobs go on; send this file again",
        ) from exc


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{type(value).__name__} where text was stored")
    return value


def _readable(rows: list[sqlite3.Row]) -> list[Drop]:
    """The rows that parse; a damaged one is logged and left out, so the rest go on."""
    drops: list[Drop] = []
    for row in rows:
        try:
            drops.append(_drop(row))
        except StateError as exc:
            log.warning("%s", exc)
    return drops
