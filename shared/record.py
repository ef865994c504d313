"""The job record: one DynamoDB item per file.

``Job`` is the typed form every part works with; ``to_item`` and
``from_item`` are the only places that know DynamoDB's attribute shapes, so
boto3 types never reach the logic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.errors import IntegrityError


class Status(StrEnum):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"

    @property
    def finished(self) -> bool:
        return self in (Status.COMPLETED, Status.ERROR)


# Fields the client signs; everything else is written by fetchers and the
# watcher. ``content_type`` is the one addition to the design's list: the
# processor needs it and the client is the only part that knows the file name.
SIGNED_FIELDS = (
    "version",
    "created",
    "bucket",
    "file",
    "chunks",
    "client",
    "size",
    "sha256",
    "chunk_sha256",
    "compression",
    "content_type",
    "params",
)

RESULTS_POINTER_PREFIX = "s3://"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds, the record's only timestamp format."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_file_id() -> str:
    return f"file-{uuid.uuid4()}"


def queue_shard(file_id: str, shards: int) -> str:
    """The sparse index key of a queued job: stable per job, spread over shards."""
    digest = hashlib.sha256(file_id.encode()).digest()
    return f"q{digest[0] % max(1, shards)}"


def queue_rank(backlog: int, created: str) -> str:
    """The queue index's sort key: the job's place in its client's backlog, then time.

    Sorting by it serves clients round-robin: every client's first waiting
    job comes before any client's second, so one client with ten thousand
    jobs cannot starve another with three. Ties go to the older job.
    """
    return f"{max(0, backlog):08d}|{created}"


def chunk_key(client: str, file_id: str, index: int) -> str:
    return f"{client}/{file_id}/{index}"


def chunk_prefix(client: str, file_id: str) -> str:
    return f"{client}/{file_id}/"


def results_key(client: str, file_id: str) -> str:
    return f"results/{client}/{file_id}"


@dataclass
class Job:
    """A job record. Field names follow the design (and the prototype)."""

    file: str
    client: str
    version: str
    created: str
    bucket: str
    chunks: int
    size: int
    sha256: str
    chunk_sha256: list[str]
    compression: str = "zstd"
    content_type: str = "application/octet-stream"
    params: dict[str, Any] = field(default_factory=dict)
    signature: str = ""
    status: Status = Status.QUEUED
    processor: str | None = None
    """``processor-<uuid>`` of the fetcher holding the job."""
    assigned: str | None = None
    downloaded: str | None = None
    processed: str | None = None
    results: bytes | None = None
    """HPKE ciphertext of the result, when it fits in the record."""
    results_ref: str | None = None
    """``s3://bucket/results/<client>/<file>`` when the result is too large."""
    error: str | None = None
    last_error: str | None = None
    """Why the previous holder lost the job (kept across a requeue)."""
    attempts: int = 0
    """Claims so far; also the fencing token of the current holder."""
    heartbeat: str | None = None
    progress: int | None = None
    queue: str | None = None
    """Sparse GSI key, present only while QUEUED."""
    rank: str = ""
    """The queue index's sort key (``queue_rank``); kept across claims and requeues."""
    expires: int | None = None
    """TTL, epoch seconds."""
    delivered: str | None = None
    """When the client's receipt arrived and the result was deleted."""
    expired: str | None = None
    """When the result was deleted unread, its retention over."""

    def __post_init__(self) -> None:
        # A job without a rank would be invisible in the queue index; a client
        # that does not know its backlog ranks the job first in line.
        if not self.rank:
            self.rank = queue_rank(0, self.created)

    def signed_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SIGNED_FIELDS}


def _attr(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute (no floats: the record has none)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): _attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_attr(v) for v in value]}
    if value is None:
        return {"NULL": True}
    raise TypeError(f"{type(value).__name__} cannot be stored in a job record")


def _value(attr: Mapping[str, Any]) -> Any:
    ((kind, raw),) = attr.items()
    if kind == "S":
        return raw
    if kind == "N":
        return int(raw)
    if kind == "B":
        return bytes(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _value(v) for k, v in raw.items()}
    if kind == "L":
        return [_value(v) for v in raw]
    if kind == "SS":
        return sorted(raw)
    raise TypeError(f"unsupported attribute type {kind}")


def to_item(job: Job) -> dict[str, Any]:
    """The job as a DynamoDB item; unset optional fields are left out."""
    item: dict[str, Any] = {}
    for name in (
        *SIGNED_FIELDS,
        "signature",
        "processor",
        "assigned",
        "downloaded",
        "processed",
        "error",
        "last_error",
        "attempts",
        "heartbeat",
        "progress",
        "queue",
        "rank",
        "expires",
        "delivered",
        "expired",
    ):
        value = getattr(job, name)
        if value is not None:
            item[name] = _attr(value)
    item["status"] = {"S": job.status.value}
    if job.results is not None:
        item["results"] = {"B": job.results}
    elif job.results_ref is not None:
        item["results"] = {"S": job.results_ref}
    return item


def to_value(value: Any) -> dict[str, Any]:
    """One value as an attribute, for update and condition expressions."""
    return _attr(value)


def from_item(item: Mapping[str, Any]) -> Job:
    """Parse a DynamoDB item; a malformed one is an integrity failure of that job."""
    data = {k: _value(v) for k, v in item.items()}
    file_id = data.get("file", "?")
    try:
        results = data.pop("results", None)
        status = Status(data.pop("status"))
        known = {f for f in Job.__dataclass_fields__}
        extra = {k: v for k, v in data.items() if k in known}
        job = Job(status=status, **extra)
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"malformed job record: {exc}", job=str(file_id)) from exc
    if isinstance(results, bytes):
        job.results = results
    elif isinstance(results, str):
        job.results_ref = results
    return job
