"""One sweep over the jobs table.

Decisions are pure (``decide``), taking ``now`` as a parameter; the sweep
applies each in its own ``try`` so one bad job cannot stop the batch. A
stalled job is requeued only if its holder and heartbeat are still the ones
the sweep saw, so two watchers never both act, and a holder that came back
to life keeps its job.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shared import transitions
from shared.config import Settings
from shared.errors import ClaimLost, FpwError
from shared.record import Job, Status, chunk_prefix, iso, parse_iso, queue_shard
from shared.table import JobTable

if TYPE_CHECKING:
    from shared.aws import Aws

log = logging.getLogger(__name__)


class Action(StrEnum):
    NOTHING = "nothing"
    REQUEUE = "requeue"
    FAIL_STALLED = "fail-stalled"
    FAIL_UPLOAD = "fail-upload"
    CLEAN = "clean"


@dataclass
class SweepReport:
    seen: int = 0
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cleaned_objects: int = 0
    errors: list[str] = field(default_factory=list)


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
    return Action.CLEAN


class Sweeper:
    def __init__(self, settings: Settings, aws: Aws) -> None:
        self.settings = settings
        self.aws = aws
        self.table = JobTable(aws.dynamodb, settings.aws.table)

    def sweep(self, now: dt.datetime) -> SweepReport:
        report = SweepReport()
        for job in self.table.scan():
            report.seen += 1
            try:
                self._one(job, now, report)
            except ClaimLost:
                log.info("%s changed during the sweep; left alone", job.file)
            except (FpwError, BotoCoreError, ClientError) as exc:
                report.errors.append(f"{job.file}: {exc}")
                log.warning("sweep of %s failed: %s", job.file, exc)
        changed = report.requeued or report.failed or report.cleaned_objects or report.errors
        (log.info if changed else log.debug)(
            "sweep: %d jobs, %d requeued, %d failed, %d objects deleted",
            report.seen,
            len(report.requeued),
            len(report.failed),
            report.cleaned_objects,
        )
        return report

    def _one(self, job: Job, now: dt.datetime, report: SweepReport) -> None:
        action = decide(job, now, self.settings)
        ws = self.settings.watcher
        expires = int(now.timestamp()) + self.settings.fetcher.result_retention_seconds
        if action is Action.REQUEUE:
            assert job.processor and job.heartbeat
            reason = (
                f"attempt {job.attempts} stalled: no heartbeat from {job.processor}"
                f" since {job.heartbeat}"
            )
            self.table.apply(
                job.file,
                transitions.requeue_stalled(
                    job.processor,
                    job.attempts,
                    job.heartbeat,
                    queue_shard(job.file, self.settings.aws.queue_shards),
                    reason,
                ),
            )
            report.requeued.append(job.file)
            log.warning("requeued %s: %s", job.file, reason)
        elif action is Action.FAIL_STALLED:
            assert job.processor and job.heartbeat
            reason = (
                f"gave up after {job.attempts} attempts; the last one stalled"
                f" (no heartbeat from {job.processor} since {job.heartbeat})"
            )
            self.table.apply(
                job.file,
                transitions.fail_stalled(
                    job.processor, job.attempts, job.heartbeat, iso(now), reason, expires
                ),
            )
            report.failed.append(job.file)
            log.error("%s ends in ERROR: %s", job.file, reason)
        elif action is Action.FAIL_UPLOAD:
            if self._chunks_present(job) >= job.chunks:
                return  # all there: just waiting for a fetcher
            reason = (
                f"the upload never finished within {ws.upload_timeout_seconds:.0f} s"
                " (the client stopped sending chunks)"
            )
            self.table.apply(
                job.file, transitions.fail_queued(job.created, iso(now), reason, expires)
            )
            report.failed.append(job.file)
        elif action is Action.CLEAN:
            report.cleaned_objects += self._delete_chunks(job)

    def _chunk_keys(self, job: Job) -> list[str]:
        keys: list[str] = []
        paginator = self.aws.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=job.bucket, Prefix=chunk_prefix(job.client, job.file)
        ):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def _chunks_present(self, job: Job) -> int:
        return len(self._chunk_keys(job))

    def _delete_chunks(self, job: Job) -> int:
        keys = self._chunk_keys(job)
        for key in keys:
            self.aws.s3.delete_object(Bucket=job.bucket, Key=key)
        if keys:
            log.info("deleted %d leftover chunk(s) of %s %s", len(keys), job.status.value, job.file)
        return len(keys)
