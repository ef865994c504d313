"""What a sweep does with each job and each bucket object: pure decisions, taking
``now`` as a parameter (``watcher.sweep`` applies them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum

from shared.config import Settings
from shared.record import Job, Status, parse_iso
from watcher import snapshot

RETIRE_AFTER = snapshot.ERROR_WINDOW
"""A finished job stays in ``sweep-index`` this long, so that every sweep's
snapshot counts the completions and errors of its windows."""


class Action(StrEnum):
    NOTHING = "nothing"
    REQUEUE = "requeue"
    FAIL_STALLED = "fail-stalled"
    FAIL_UPLOAD = "fail-upload"
    EXPIRE = "expire"


def retirable(job: Job, now: dt.datetime) -> bool:
    """Whether a finished job can leave ``sweep-index`` (pure): its result is gone
    (delivered, expired, or there never was one) and it ended ``RETIRE_AFTER`` ago."""
    if not job.status.finished or job.results is not None or job.results_ref is not None:
        return False
    ended = parse_iso(job.processed or job.created)
    return now - ended > RETIRE_AFTER


def decide(job: Job, now: dt.datetime, settings: Settings) -> Action:
    """What a sweep should do with one job (no I/O)."""
    ws = settings.watcher
    if job.status is Status.PROCESSING:
        beat = parse_iso(job.heartbeat or job.assigned or job.created)
        if (now - beat).total_seconds() <= ws.stall_seconds:
            return Action.NOTHING
        return Action.FAIL_STALLED if job.attempts >= ws.max_attempts else Action.REQUEUE
    if job.status is Status.QUEUED:
        age = (now - parse_iso(job.created)).total_seconds()
        return Action.FAIL_UPLOAD if age > ws.upload_timeout_seconds else Action.NOTHING
    holds_result = job.results is not None or job.results_ref is not None
    if holds_result and job.expires is not None and job.expires <= now.timestamp():
        return Action.EXPIRE
    return Action.NOTHING


def owner(key: str) -> str | None:
    """The file id a chunk (``<client>/<file>/<n>``) or result
    (``results/<client>/<file>``) key belongs to; None for any other object."""
    parts = key.split("/")
    if len(parts) != 3:
        return None
    if parts[0] == "results":
        return parts[2]
    if parts[0].startswith("client-") and parts[1].startswith("file-"):
        return parts[1]
    return None


def unwanted(
    key: str, modified: dt.datetime, jobs: Mapping[str, Job], now: dt.datetime, grace: float
) -> bool:
    """Whether a bucket object should be deleted (pure).

    The sweep lists the bucket once and judges every object here, rather than
    listing each finished job's chunks: finished records stay for the whole
    retention, and a LIST per record per sweep would cost far more than the
    jobs themselves. Chunks of a finished job are leftovers (the fetcher
    normally deletes them as it merges); a result whose job was delivered or
    expired is unwanted at once. Chunks and results of a job that no longer
    exists are orphans once older than ``grace``: younger ones may belong to
    a job this sweep's scan did not see. Receipts and anything else are not
    this pass's.
    """
    file_id = owner(key)
    if file_id is None:
        return False
    job = jobs.get(file_id)
    if job is None:
        return (now - modified).total_seconds() > grace
    if key.startswith("results/"):
        return bool(job.delivered or job.expired)
    return job.status.finished
