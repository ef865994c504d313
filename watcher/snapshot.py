"""What the queue looks like now, computed from records alone (no I/O).

One snapshot feeds the metrics, the alerts, ``fpw status`` and ``fpw check``,
so the four can never disagree about what they count.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.errors import ConfigError
from shared.presence import Presence, alive
from shared.record import Job, Status, parse_iso
from shared.versions import satisfies

ERROR_WINDOW = dt.timedelta(minutes=5)
"""Errors counted for the error-spike alert."""
RECENT = dt.timedelta(minutes=5)
"""A fetcher seen within this is listed: as running while it is heard from
(``presence.alive``), else as gone."""


@dataclass
class Snapshot:
    now: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)
    oldest_queued: Job | None = None
    oldest_queued_age: float = 0.0
    in_progress: list[Job] = field(default_factory=list)
    stalled: list[Job] = field(default_factory=list)
    completed_last_minute: int = 0
    errors_last_minute: int = 0
    errors_in_window: int = 0
    errors_last_hour: list[Job] = field(default_factory=list)
    fetchers: list[Presence] = field(default_factory=list)
    """Fetchers running now (heard from within ``presence.GONE_SECONDS``)."""
    gone: list[Presence] = field(default_factory=list)
    """Fetchers seen in the last five minutes that have fallen silent since."""
    unsupported: list[Job] = field(default_factory=list)
    """Queued jobs that no recently seen fetcher supports."""

    @property
    def queued(self) -> int:
        return self.counts.get(Status.QUEUED.value, 0)

    @property
    def in_flight(self) -> int:
        return self.counts.get(Status.PROCESSING.value, 0)


def _supports(fetcher: Presence, version: str) -> bool:
    try:
        return satisfies(version, fetcher.supports)
    except (ConfigError, ValueError):
        return False


def _at(value: str | None) -> dt.datetime | None:
    return parse_iso(value) if value else None


def take(
    jobs: Iterable[Job],
    now: dt.datetime,
    stall_seconds: float,
    fetchers: Iterable[Presence] = (),
) -> Snapshot:
    snap = Snapshot(now=now)
    counts: Counter[str] = Counter()
    jobs = list(jobs)
    beats: dict[str, dt.datetime] = {}
    for job in jobs:
        if job.status is Status.PROCESSING and job.holder and job.heartbeat:
            beat = parse_iso(job.heartbeat)
            beats[job.holder] = max(beat, beats.get(job.holder, beat))
    recent = sorted((f for f in fetchers if now - f.seen <= RECENT), key=lambda f: f.holder)
    running = [f for f in recent if alive(f, now, beats.get(f.holder))]
    snap.fetchers = running
    snap.gone = [f for f in recent if f not in running]
    for job in jobs:
        counts[job.status.value] += 1
        if job.status is Status.QUEUED:
            age = (now - parse_iso(job.created)).total_seconds()
            if snap.oldest_queued is None or age > snap.oldest_queued_age:
                snap.oldest_queued, snap.oldest_queued_age = job, age
            if running and not any(_supports(f, job.version) for f in running):
                snap.unsupported.append(job)
        elif job.status is Status.PROCESSING:
            snap.in_progress.append(job)
            beat = _at(job.heartbeat or job.assigned) or parse_iso(job.created)
            if (now - beat).total_seconds() > stall_seconds:
                snap.stalled.append(job)
        ended = _at(job.processed)
        if ended is None:
            continue
        since = now - ended
        if job.status is Status.COMPLETED and since <= dt.timedelta(minutes=1):
            snap.completed_last_minute += 1
        if job.status is Status.ERROR:
            if since <= dt.timedelta(minutes=1):
                snap.errors_last_minute += 1
            if since <= ERROR_WINDOW:
                snap.errors_in_window += 1
            if since <= dt.timedelta(hours=1):
                snap.errors_last_hour.append(job)
    snap.counts = {s.value: counts.get(s.value, 0) for s in Status}
    snap.errors_last_hour.sort(key=lambda j: j.processed or "", reverse=True)
    return snap


def metrics(snap: Snapshot) -> dict[str, tuple[float, str]]:
    """CloudWatch metrics (namespace ``FPW``): name -> (value, unit)."""
    return {
        "QueueDepth": (float(snap.queued), "Count"),
        "OldestQueuedAgeSeconds": (round(snap.oldest_queued_age, 1), "Seconds"),
        "JobsInFlight": (float(snap.in_flight), "Count"),
        "CompletedPerMinute": (float(snap.completed_last_minute), "Count"),
        "ErrorsPerMinute": (float(snap.errors_last_minute), "Count"),
    }
