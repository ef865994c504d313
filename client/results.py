"""Waiting for results: one query for the status of every waiting drop's job,
then, for each finished one, its record read in full and its result collected.

Each drop on its own: one whose result cannot be collected never holds up the
rest (what its failure means is the engine's rules, ``client.outcomes``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field

from client.collect import Collector, Receipts
from client.drops import Drops
from client.outcomes import COLLECTING, ErrorPolicy
from client.staging import regular
from client.state import Drop, Phase
from shared.config import ClientSettings
from shared.errors import IntegrityError
from shared.reasons import clean_reason
from shared.record import Status
from shared.table import JobTable

log = logging.getLogger(__name__)

UNFINISHED = (Status.QUEUED.value, Status.PROCESSING.value)
# A result poll reads the status of every waiting job: with many waiting,
# polls are spaced so that a desktop reads about this many records a second.
POLL_RECORDS_PER_SECOND = 200
# A job whose record disappeared is sent again at most this many times.
MAX_RESENDS = 3
# A fetcher downloads, checks and merges at least this much a second: a larger job's
# result is expected that much later (the fast-poll window grows with the file).
FAST_POLL_BYTES_PER_SECOND = 10 * 1024 * 1024


def poll_interval(waiting: int, base: float) -> float:
    """Seconds between result polls: ``base``, or longer when a poll of ``waiting``
    jobs would read more than ``POLL_RECORDS_PER_SECOND`` records a second.

    A backlog of a thousand files takes minutes to process; noticing each result
    five seconds late costs nothing, whereas reading a thousand records twice a
    second costs the table's capacity and the desktop's CPU.
    """
    return max(base, waiting / POLL_RECORDS_PER_SECOND)


def expected_by(uploaded: float, size: int, window: float) -> float:
    """Until when a job whose upload ended at ``uploaded`` is expected to finish soon:
    ``window`` seconds, plus the time a fetcher takes to download and merge ``size``
    bytes (``FAST_POLL_BYTES_PER_SECOND``)."""
    return uploaded + window + size / FAST_POLL_BYTES_PER_SECOND


def base_interval(now: float, expected: Iterable[float], slow: float, fast: float) -> float:
    """The result poll's interval before any backlog spacing: ``fast`` while a waiting
    job is expected to finish soon (``now`` before one of ``expected``), ``slow`` otherwise.

    Most of a small job's wait for its result is the poll's own spacing; checking five
    times as often only in the seconds after an upload costs a few dozen queries a job
    and nothing while no job is that recent. ``fast`` 0 (or not below ``slow``) is off.
    """
    if fast <= 0 or fast >= slow:
        return slow
    return fast if any(now < until for until in expected) else slow


@dataclass
class Expected:
    """The jobs expected to finish soon (until when, by the engine's clock), which set the
    result poll's pace; shared by the engine's threads."""

    clock: Callable[[], float]
    settings: ClientSettings  # read at each use: a running engine may be retuned
    _until: dict[str, float] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def uploaded(self, file_id: str, size: int) -> None:
        with self._lock:
            window = self.settings.fast_poll_window_seconds
            self._until[file_id] = expected_by(self.clock(), size, window)

    def forget(self, ended: Iterable[str]) -> None:
        """Jobs no longer expected soon: ``ended``, or past their window."""
        now = self.clock()
        with self._lock:
            for file_id in ended:
                self._until.pop(file_id, None)
            for file_id, until in list(self._until.items()):
                if until <= now:
                    del self._until[file_id]

    def interval(self, only: str | None = None) -> float:
        """The result poll's interval: fast while a job (or ``only``) is expected soon."""
        with self._lock:
            found = list(self._until.values()) if only is None else [self._until.get(only, 0.0)]
        cs = self.settings
        return base_interval(self.clock(), found, cs.poll_seconds, cs.fast_poll_seconds)


@dataclass
class Results:
    """Polls this client's waiting jobs and collects their results."""

    table: JobTable
    client_id: str
    drops: Drops
    collector: Collector
    receipts: Receipts
    errors: ErrorPolicy
    _: KW_ONLY
    resend: Callable[[Drop, int], str | None]
    """Sends the file of a drop again (the how-manieth time), as a new job."""
    # Last seen (status, progress) of each waiting job's record, and the last told.
    _seen: dict[str, tuple[str, int | None]] = field(default_factory=dict, init=False)
    _told: dict[str, tuple[str, int | None]] = field(default_factory=dict, init=False)

    def statuses(self, waiting: list[Drop]) -> dict[str, str]:
        """The status of every job of ``waiting``: one query, not a read per job."""
        statuses: dict[str, str] = {}
        oldest = min((d.job.created for d in waiting if d.job), default="")
        for summary in self.table.summaries(self.client_id, oldest):
            statuses[summary.file] = summary.status
            self._seen[summary.file] = (summary.status, summary.progress)
        return statuses

    def collect(self, waiting: list[Drop], statuses: dict[str, str]) -> int:
        """Collect the finished ones of ``waiting``; returns how many finished."""
        finished = 0
        for drop in waiting:
            status = statuses.get(drop.file_id)
            try:
                if status is None:
                    self._check_record(drop)
                    continue
                if status in UNFINISHED:
                    self._note_status(drop)
                    continue
                # Finished, or a status no part writes: reading the record tells which.
                self._collect(drop)
                self.errors.went_well(drop.file_id)
                finished += 1
            except Exception as exc:
                self.errors.handle(drop.file_id, "collecting the result", exc, COLLECTING)
        return finished

    def _check_record(self, drop: Drop) -> None:
        """A waiting job missing from the index: read its record; send the file
        again if the record is gone (the stack was reset, or it was deleted or expired)."""
        if self.table.get(drop.file_id) is None:
            self._lost(drop, "its job record disappeared")
        else:
            self._note_status(drop)

    def _lost(self, drop: Drop, why: str) -> None:
        """Send the file of a drop whose job was lost again, as a new job (bounded)."""
        resends = self.drops.state.resends(drop.file_id)
        if resends >= MAX_RESENDS:
            self.drops.fail(
                drop.file_id, f"{why}, after being sent {resends + 1} times; not sent again"
            )
            return
        if regular(drop.path) is not True:
            self.drops.fail(drop.file_id, f"{why}, and the file is no longer there to send again")
            return
        if not self.drops.supersede(drop.file_id, f"{why}; the file was sent again"):
            return
        new_id = self.resend(drop, resends + 1)
        log.warning(
            "%s: %s (job %s); sent the file again as job %s (%d of at most %d)",
            drop.name,
            why,
            drop.file_id,
            new_id or "already in hand",
            resends + 1,
            MAX_RESENDS,
        )

    def _note_status(self, drop: Drop) -> None:
        """Tell the faces when a waiting job's status or progress moved."""
        seen = self._seen.get(drop.file_id)
        if seen is None or self._told.get(drop.file_id) == seen:
            return
        self._told[drop.file_id] = seen
        status, progress = seen
        self.drops.tell(drop, Phase.WAITING, status.lower(), progress=progress, status=status)

    def _collect(self, drop: Drop) -> None:
        drops = self.drops
        drops.tell(drop, Phase.WAITING, "downloading the result", status=Status.COMPLETED.value)
        try:
            job = self.table.get(drop.file_id)
        except IntegrityError as exc:
            drops.fail(drop.file_id, f"the job record cannot be read: {exc.message}")
            return
        if job is None:
            self._lost(drop, "its job record disappeared before the result was read")
            return
        if job.status is Status.ERROR:
            drops.fail(drop.file_id, clean_reason(job.error or "failed without a reason"))
            return
        if not job.status.finished:
            return  # the index ran ahead of the record; look again next poll
        if job.expired:
            drops.fail(drop.file_id, f"the result was deleted unread at {job.expired}")
            return
        if drops.changed(drop):
            # The result is for content the file no longer has: the newer drop's counts.
            drops.supersede(drop.file_id, "the file changed after it was sent; result discarded")
            log.info(
                "%s changed after it was sent; the result of job %s is discarded",
                drop.name,
                drop.file_id,
            )
            return
        assert drop.job is not None
        try:
            opened = self.collector.open(job, drop.job)
        except IntegrityError as exc:
            drops.fail(drop.file_id, str(exc))
            return
        folder = drops.places.results / drops.places.relative_dir(drop.path)
        target = self.collector.write(folder, drop.name, drop.file_id, opened)
        content_type, sealed = opened.content_type, opened.sealed
        del opened  # the plaintext: only the ciphertext is needed for the receipt
        drops.done(drop, target, content_type)
        self.receipts.confirm(job, sealed)
