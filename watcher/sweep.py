"""One sweep: jobs, receipts, orphans, then metrics and alerts.

Decisions are pure (``watcher.decisions``), taking ``now`` as a parameter;
the sweep applies each in its own ``try`` so one bad job cannot stop the
batch. Every change to a job is a conditional write on what the sweep saw:
a stalled job is requeued only if its holder and heartbeat are unchanged, a
result expires only if its job still says so. Two watchers sweeping at once
therefore never both act on a job, and a holder that came back to life keeps
its job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError

from shared import receipts, transitions
from shared.config import Settings
from shared.errors import ClaimLost, FpwError, IntegrityError
from shared.record import (
    SWEEP,
    Job,
    Status,
    chunk_prefix,
    iso,
    queue_shard,
    queue_shards,
    results_location,
    sweep_shards,
)
from shared.store import Store
from shared.table import QUEUE_INDEX, SWEEP_INDEX, JobTable
from watcher import snapshot
from watcher.alerts import Alerter
from watcher.decisions import Action, decide, owner, retirable, unwanted

if TYPE_CHECKING:
    from shared.aws import Aws

log = logging.getLogger(__name__)

NAMESPACE = "FPW"
# Receipts every sweep handles, however long they take: a sweep always makes progress.
MIN_RECEIPTS = 25


@dataclass
class SweepReport:
    full: bool = False
    """Whether this sweep read the whole table, not the indexes."""
    seen: int = 0
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cleaned_objects: int = 0
    delivered: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    orphans: int = 0
    alerts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retired: int = 0


class Sweeper:
    def __init__(self, settings: Settings, aws: Aws) -> None:
        self.settings = settings
        self.aws = aws
        self.table = JobTable(aws.dynamodb, settings.aws.table)
        self.store = Store(aws.s3)
        ws = settings.watcher
        self.alerter = Alerter(self.table, ws, aws.client("sns") if ws.alert_topic_arn else None)
        self._cloudwatch: Any | None = None
        self._full_at: float | None = None
        """``time.monotonic()`` of the last sweep that read the whole table."""

    def _full_due(self) -> bool:
        every = self.settings.watcher.full_sweep_seconds
        return every > 0 and (self._full_at is None or time.monotonic() - self._full_at >= every)

    def sweep(self, now: dt.datetime) -> SweepReport:
        """One pass. Most read only the jobs that can need the watcher: the queue
        index (queued) and ``sweep-index`` (claimed, and finished until retired),
        so that a sweep's cost follows the jobs in flight rather than the week of
        finished records the table keeps; the first and one every
        ``full_sweep_seconds`` read the whole table (docs/scale.md)."""
        report = SweepReport(full=self._full_due())
        jobs: dict[str, Job] = {}

        def malformed(item: dict[str, Any], exc: IntegrityError) -> None:
            report.seen += 1
            what = str(item.get("file", {}).get("S", "?"))
            self._guarded(report, what, lambda: self._end_unreadable(item, exc, now, report))

        started = time.monotonic()
        swept = {f for w in sweep_shards() for f in self.table.listed(SWEEP_INDEX, SWEEP, w)}
        if report.full:
            found = self.table.scan(on_malformed=malformed)
        else:
            queued = [
                f
                for shard in queue_shards(self.settings.aws.queue_shards)
                for f in self.table.listed(QUEUE_INDEX, "queue", shard)
            ]
            found = self.table.many([*queued, *sorted(swept)], on_malformed=malformed)
        for job in found:
            report.seen += 1
            jobs[job.file] = job
            self._guarded(report, job.file, lambda j=job: self._one(j, now, report))  # type: ignore[misc]
        if report.full:
            self._full_at = started
        for file_id in swept:
            ended = jobs.get(file_id)
            if ended is not None and retirable(ended, now):
                self._guarded(report, file_id, lambda f=file_id: self._retire(f, report))  # type: ignore[misc]
        self._guarded(report, "receipts", lambda: self._receipts(jobs, now, report))
        self._guarded(
            report, "bucket", lambda: self._unwanted(jobs, now, report, complete=report.full)
        )
        snap = snapshot.take(jobs.values(), now, self.settings.watcher.stall_seconds)
        if self.settings.watcher.metrics:
            self._guarded(report, "metrics", lambda: self._publish(snap))
        self._guarded(report, "alerts", lambda: report.alerts.extend(self.alerter.evaluate(snap)))
        counts = (
            len(report.requeued),
            len(report.failed),
            len(report.delivered),
            len(report.expired),
            report.cleaned_objects + report.orphans,
            report.orphans,
        )
        (log.info if any(counts) or report.errors else log.debug)(
            "sweep: %d jobs, %d requeued, %d failed, %d delivered, %d expired,"
            " %d objects deleted (%d orphans)",
            report.seen,
            *counts,
        )
        return report

    def _guarded(self, report: SweepReport, what: str, step: Callable[[], object]) -> None:
        """One step of the sweep; its failure is reported and the sweep goes on."""
        try:
            step()
        except ClaimLost:
            log.info("%s changed during the sweep; left alone", what)
        except (FpwError, BotoCoreError) as exc:
            report.errors.append(f"{what}: {exc}")
            log.warning("sweep of %s failed: %s", what, exc)

    # -- receipts ---------------------------------------------------------

    def _receipts(self, jobs: Mapping[str, Job], now: dt.datetime, report: SweepReport) -> None:
        """Act on receipts for at most ``interval_seconds`` of this sweep.

        A watcher that was down finds every receipt written meanwhile (a
        thousand take about half a minute on the local stack); working them
        all off in one sweep would hold back the next look at stalled jobs by
        as long. The rest wait for the next sweeps; handled ones are deleted,
        so each sweep starts where the last one stopped. The clock starts once
        the first page is listed, and every sweep handles at least
        ``MIN_RECEIPTS``: on a slow or busy machine a budget spent on the listing
        alone would otherwise let the backlog grow for ever.
        """
        bucket = self.settings.aws.bucket
        budget = max(1.0, self.settings.watcher.interval_seconds)
        until: float | None = None
        handled = 0
        for stored in self.store.objects(bucket, receipts.PREFIX):
            if until is None:
                until = time.monotonic() + budget
            if handled >= MIN_RECEIPTS and time.monotonic() > until:
                log.info("more receipts than one sweep has time for; the rest next sweep")
                return
            handled += 1
            key = stored.key
            self._guarded(report, key, lambda k=key: self._receipt(k, jobs, now, report))  # type: ignore[misc]

    def _receipt(
        self, key: str, jobs: Mapping[str, Job], now: dt.datetime, report: SweepReport
    ) -> None:
        bucket = self.settings.aws.bucket
        data = self.store.get(bucket, key)
        if data is None:
            return  # another watcher handled it meanwhile
        try:
            receipt = receipts.parse_receipt(data, key)
        except IntegrityError as exc:
            log.warning("ignoring a receipt: %s", exc.message)
            self.store.delete(bucket, key)
            return
        job = jobs.get(receipt.file) or self.table.get(receipt.file)
        if job is None or job.client != receipt.client:
            self.store.delete(bucket, key)
            return
        if not job.status.finished:
            return  # cannot happen for an honest client; look again next sweep
        ciphertext = job.results
        if ciphertext is None and job.results_ref:
            with contextlib.suppress(FpwError):
                ciphertext = self.store.get(*results_location(job))
        if (
            ciphertext is not None
            and receipts.ciphertext_digest(ciphertext) != receipt.results_sha256
        ):
            log.warning("receipt for %s names another result; result kept", job.file)
            self.store.delete(bucket, key)
            return
        if job.results_ref:
            self.store.delete(*results_location(job))
        if job.delivered is None:
            self.table.apply(job.file, transitions.delivered(job.client, iso(now)))
            report.delivered.append(job.file)
            log.info("%s delivered; its result is deleted", job.file)
        # Chunks left behind, if any, go in this sweep's pass over the bucket.
        self.store.delete(bucket, key)

    def _retire(self, file_id: str, report: SweepReport) -> None:
        self.table.apply(file_id, transitions.retire())
        report.retired += 1

    # -- leftovers and orphans --------------------------------------------

    def _unwanted(
        self, jobs: Mapping[str, Job], now: dt.datetime, report: SweepReport, complete: bool
    ) -> None:
        """Delete what ``unwanted`` says. When ``jobs`` came from the indexes
        (not ``complete``), an object's job missing from them is read before the
        object is judged: it may have finished and been retired, and only a job
        with no record at all leaves orphans."""
        bucket = self.settings.aws.bucket
        grace = self.settings.watcher.orphan_grace_seconds
        known: dict[str, Job] = dict(jobs)
        looked: set[str] = set()
        unreadable: set[str] = set()
        for stored in self.store.objects(bucket):
            key = stored.key
            file_id = owner(key) or ""
            if not complete and file_id and file_id not in known and file_id not in looked:
                looked.add(file_id)
                try:
                    found = self.table.get(file_id)
                except IntegrityError:
                    found = None
                    unreadable.add(file_id)  # its record exists: left to the full sweeps
                if found is not None:
                    known[file_id] = found
            if file_id in unreadable or not unwanted(key, stored.modified, known, now, grace):
                continue
            self.store.delete(bucket, key)
            job = known.get(file_id)
            if job is None:
                report.orphans += 1
                log.info("deleted orphaned object %s", key)
            else:
                report.cleaned_objects += 1
                log.info("deleted leftover %s of %s job %s", key, job.status.value, job.file)

    # -- metrics ----------------------------------------------------------

    def _publish(self, snap: snapshot.Snapshot) -> None:
        if self._cloudwatch is None:
            self._cloudwatch = self.aws.client("cloudwatch")
        dimension = [{"Name": "Deployment", "Value": self.settings.watcher.deployment}]
        self._cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": dimension,
                    "Timestamp": snap.now,
                    "Value": value,
                    "Unit": unit,
                }
                for name, (value, unit) in snapshot.metrics(snap).items()
            ],
        )

    def _one(self, job: Job, now: dt.datetime, report: SweepReport) -> None:
        action = decide(job, now, self.settings)
        ws = self.settings.watcher
        expires = int(now.timestamp()) + self.settings.fetcher.result_retention_seconds
        if action is Action.REQUEUE or action is Action.FAIL_STALLED:
            assert job.holder and job.heartbeat
            seen = (job.holder, job.attempts, job.heartbeat)
            if action is Action.REQUEUE:
                reason = (
                    f"attempt {job.attempts} stalled: no heartbeat from {job.holder}"
                    f" since {job.heartbeat}"
                )
                shard = queue_shard(job.file, self.settings.aws.queue_shards)
                self.table.apply(job.file, transitions.requeue_stalled(*seen, shard, reason))
                report.requeued.append(job.file)
                log.warning("requeued %s: %s", job.file, reason)
            else:
                reason = (
                    f"gave up after {job.attempts} attempts; the last one stalled"
                    f" (no heartbeat from {job.holder} since {job.heartbeat})"
                )
                update = transitions.fail_stalled(*seen, iso(now), reason, expires)
                self.table.apply(job.file, update)
                report.failed.append(job.file)
                log.error("%s ends in ERROR: %s", job.file, reason)
        elif action is Action.FAIL_UPLOAD:
            chunks = self.store.objects(job.bucket, chunk_prefix(job.client, job.file))
            if sum(1 for _ in chunks) >= job.chunks:
                return  # all there: just waiting for a fetcher
            reason = (
                f"the upload never finished within {ws.upload_timeout_seconds:.0f} s"
                " (the client stopped sending chunks)"
            )
            self.table.apply(
                job.file, transitions.fail_queued(job.created, iso(now), reason, expires)
            )
            report.failed.append(job.file)
        elif action is Action.EXPIRE:
            assert job.expires is not None
            if job.results_ref:
                self.store.delete(*results_location(job))
            self.table.apply(job.file, transitions.expired(job.expires, iso(now)))
            report.expired.append(job.file)
            log.info("%s: result never collected within its retention; deleted", job.file)

    def _end_unreadable(
        self, item: dict[str, Any], exc: IntegrityError, now: dt.datetime, report: SweepReport
    ) -> None:
        """A record no part can read ends as ERROR, once, and leaves the queue."""
        file_id = str(item["file"]["S"])
        if item.get("status") == {"S": Status.ERROR.value}:
            return
        expires = int(now.timestamp()) + self.settings.fetcher.result_retention_seconds
        self.table.apply_raw(file_id, transitions.fail_unreadable(iso(now), exc.message, expires))
        report.failed.append(file_id)
        log.error("%s ends in ERROR: %s", file_id, exc.message)
