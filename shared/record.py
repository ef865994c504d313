"""The job record: one DynamoDB item per file.

``Job`` is the typed form every part works with; ``to_item`` and
``from_item`` are the only places that know DynamoDB's attribute shapes, so
boto3 types never reach the logic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import types
import typing
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
HOLDER = "processor"
"""The stored name of the attribute that holds the id of the fetcher holding a job
(``processor-<uuid>``); in the code it is the job's holder (docs/formats.md)."""

# The shapes of the ids and strings that other parts use as file names, S3 keys
# and HTTP headers: a record that breaks them is refused before anything uses it.
FILE_ID = re.compile(r"file-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")
CLIENT_ID = re.compile(r"client-04[0-9a-f]{128}")
MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:;[ -~]*)?")
MAX_MEDIA_TYPE = 255
TIMESTAMP_FIELDS = (
    "created",
    "assigned",
    "downloaded",
    "processed",
    "heartbeat",
    "delivered",
    "expired",
)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds, the record's only timestamp format."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def parse_iso(text: str) -> dt.datetime:
    """A record timestamp; anything but an ISO-8601 time with its zone is malformed."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(f"{str(text)[:40]!r} is not an ISO-8601 timestamp") from exc
    if moment.tzinfo is None:
        raise IntegrityError(f"{text[:40]!r} has no time zone (the record's times are UTC)")
    return moment


def new_file_id() -> str:
    return f"file-{uuid.uuid4()}"


SWEEP = "sweep"
"""The ``sweep-index`` key: present from a job's claim (or its end in ERROR
unclaimed) until the watcher retires it, a while after the job finished and
its result is gone. The watcher reads the jobs it must look at from it and
the queue index instead of the whole table (docs/scale.md)."""
SWEEP_SHARDS = 4


def sweep_shard(seed: str) -> str:
    """A ``sweep-index`` key: any of a few values, so that no partition of the index
    runs hot; the watcher reads them all (``sweep_shards``)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return f"w{digest[0] % SWEEP_SHARDS}"


def sweep_shards() -> list[str]:
    return [f"w{n}" for n in range(SWEEP_SHARDS)]


def queue_shards(shards: int) -> list[str]:
    """Every value ``queue_shard`` gives for ``shards``."""
    return [f"q{n}" for n in range(max(1, shards))]


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
    holder: str | None = None
    """``processor-<uuid>`` of the fetcher holding the job (stored as ``HOLDER``)."""
    assigned: str | None = None
    downloaded: str | None = None
    processed: str | None = None
    results: bytes | None = None
    """HPKE ciphertext of the result, when it fits in the record."""
    results_ref: str | None = None
    """``s3://bucket/results/<client>/<file>`` when the result is too large."""
    result_signature: str | None = None
    """The fleet's signature over the result and its job (``shared.fleet``)."""
    fleet_key: str | None = None
    """Which fleet key made ``result_signature`` (``fleet-`` + its public point)."""
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


def to_value(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute (no floats: the record has none), for
    items and for update and condition expressions."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_value(v) for v in value]}
    if value is None:
        return {"NULL": True}
    raise TypeError(f"{type(value).__name__} cannot be stored in a job record")


def _value(attr: Any) -> Any:
    """A DynamoDB attribute as a Python value; any other shape is a malformed record."""
    if not isinstance(attr, Mapping) or len(attr) != 1:
        raise IntegrityError("an attribute is not one typed DynamoDB value")
    ((kind, raw),) = attr.items()
    try:
        if kind == "S" and isinstance(raw, str):
            return raw
        if kind == "N" and isinstance(raw, str):
            # The record has no floats; int() also bounds the digits it accepts.
            return int(raw)
        if kind == "B" and isinstance(raw, bytes | bytearray):
            return bytes(raw)
        if kind == "BOOL" and isinstance(raw, bool):
            return raw
        if kind == "NULL":
            return None
        if kind == "M" and isinstance(raw, Mapping):
            return {str(k): _value(v) for k, v in raw.items()}
        if kind == "L" and isinstance(raw, list):
            return [_value(v) for v in raw]
        if kind == "SS" and isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            return sorted(raw)
    except ValueError as exc:
        raise IntegrityError(f"a number attribute is not an integer: {str(raw)[:40]!r}") from exc
    except RecursionError as exc:
        raise IntegrityError("an attribute is nested too deeply") from exc
    raise IntegrityError(f"unsupported attribute type {str(kind)[:16]!r}")


def to_item(job: Job) -> dict[str, Any]:
    """The job as a DynamoDB item; unset optional fields are left out."""
    item: dict[str, Any] = {}
    for name in _STORED:
        value = getattr(job, name)
        if value is not None:
            item[HOLDER if name == "holder" else name] = to_value(value)
    item["status"] = {"S": job.status.value}
    if job.results is not None:
        item["results"] = {"B": job.results}
    elif job.results_ref is not None:
        item["results"] = {"S": job.results_ref}
    return item


def from_item(item: Mapping[str, Any]) -> Job:
    """Parse a DynamoDB item; a malformed one is an integrity failure of that job.

    Every field must have the type ``Job`` declares and the ids, timestamps
    and content type their documented shapes: the record is written by
    clients and fetchers, and a bad value must not surface later as a crash
    of the part that reads it.
    """
    raw_id = item.get("file") if isinstance(item, Mapping) else None
    file_id = raw_id.get("S", "?") if isinstance(raw_id, Mapping) else "?"
    file_id = file_id if isinstance(file_id, str) else "?"
    try:
        data = {str(k): _value(v) for k, v in item.items()}
        missing = [name for name in ("status", *_REQUIRED) if name not in data]
        if missing:
            raise IntegrityError(f"missing field(s) {', '.join(missing)}")
        results = data.pop("results", None)
        status = Status(data.pop("status"))
        if HOLDER in data:
            data["holder"] = data.pop(HOLDER)
        extra = {k: v for k, v in data.items() if k in _HINTS}
        for name, value in extra.items():
            if not _conforms(value, _HINTS[name]):
                raise IntegrityError(f"field {name!r} is not a {_describe(_HINTS[name])}")
        job = Job(status=status, **extra)
        validate(job)
    except IntegrityError as exc:
        raise IntegrityError(f"malformed job record: {exc.message}", job=file_id[:64]) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(f"malformed job record: {exc}", job=file_id[:64]) from exc
    if isinstance(results, bytes):
        job.results = results
    elif isinstance(results, str):
        job.results_ref = results
    elif results is not None:
        raise IntegrityError(
            "malformed job record: results is neither bytes nor a pointer", job=job.file
        )
    return job


def validate(job: Job) -> None:
    """Raise ``IntegrityError`` unless ids, timestamps and content type have their shapes."""
    if not FILE_ID.fullmatch(job.file):
        raise IntegrityError(f"file id {job.file[:48]!r} is not 'file-' and a UUID")
    if not CLIENT_ID.fullmatch(job.client):
        raise IntegrityError(
            f"client id {job.client[:24]!r}… is not 'client-' and an uncompressed P-256 point"
        )
    if len(job.content_type) > MAX_MEDIA_TYPE or not MEDIA_TYPE.fullmatch(job.content_type):
        raise IntegrityError(f"content type {job.content_type[:48]!r} is not a media type")
    for name in TIMESTAMP_FIELDS:
        value = getattr(job, name)
        if value is not None:
            parse_iso(value)


def results_location(job: Job) -> tuple[str, str]:
    """Bucket and key of a large result: only the job's own result key is accepted.

    The pointer is written by the fetcher; one that names any other object (a
    chunk, a receipt, another job's result) is refused rather than read or
    deleted.
    """
    key = results_key(job.client, job.file)
    if job.results_ref != f"{RESULTS_POINTER_PREFIX}{job.bucket}/{key}":
        raise IntegrityError(
            f"the result pointer {str(job.results_ref)[:80]!r} does not name this job's result",
            job=job.file,
        )
    return job.bucket, key


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a parsed attribute has the type a ``Job`` field declares."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if origin is list:
        (inner,) = typing.get_args(hint)
        return isinstance(value, list) and all(_conforms(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None))
    if origin is list:
        return f"list of {_describe(typing.get_args(hint)[0])} values"
    if origin is dict:
        return "map"
    return {int: "number", str: "string", bytes: "binary"}.get(hint, str(hint))


_HINTS = typing.get_type_hints(Job)
_REQUIRED = tuple(
    f.name
    for f in dataclasses.fields(Job)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
# The stored attributes but status and results, which ``to_item`` writes itself.
_STORED = tuple(
    name
    for name in dict.fromkeys([*SIGNED_FIELDS, *_HINTS])
    if name not in ("status", "results", "results_ref")
)
