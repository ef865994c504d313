"""Finding work and claiming it: candidates from the queue index, the read
before a claim, the claim itself, and the claimed job as this fetcher holds it.

A claim spends one of the job's attempts, so a job is read first (is it still
queued, does its merged file fit on this disk?) and claimed only then. Every
write after the claim is fenced with the claim's ``fence`` (the record's
``attempts``), see ``fetcher.fences``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeGuard

from botocore.exceptions import BotoCoreError

from fetcher.polling import CLAIM_SPREAD, claim_spread, give_up_after
from shared import transitions
from shared.config import Settings
from shared.disk import disk_full, free_bytes
from shared.errors import ClaimLost, FpwError, IntegrityError
from shared.record import HOLDER, Job, Status, from_item, iso, utc_now
from shared.table import JobTable
from shared.versions import satisfies

log = logging.getLogger(__name__)

ROOM_MARGIN_BYTES = 1024 * 1024
"""Room a merged file needs beyond its own size (the processor's scratch files)."""
NO_ROOM_LOG_SECONDS = 60.0
"""A job that does not fit is mentioned again after this long, not at every poll."""
BULKY_BYTES = 1024
"""A record too large to take an ERROR write loses the attributes bigger than
this (they hold nothing the client or the watcher needs of a failed job)."""
KEPT = frozenset({"file", "client", "status", HOLDER, "attempts", "created"})

Unreadable = Callable[[str, str, dict[str, Any], str], None]
"""Told of a claimed record that does not parse: its id, holder, raw item and why."""


def pick(backlog: int, spread: int = CLAIM_SPREAD) -> int:
    """Which of ``backlog`` candidates, in rank order, to try next."""
    return random.randrange(min(backlog, spread))


class Claim:
    """A claimed job, its holder, and the fence that guards every write about it."""

    def __init__(self, job: Job, holder: str, bulky: frozenset[str] = frozenset()) -> None:
        self.job = job
        self.holder = holder
        self.fence = job.attempts
        self.bulky = bulky
        """Attributes of the claimed record to drop should it have to shrink."""
        self.deadline: float | None = None
        """When the analysis must be over (monotonic), once it has started."""
        self.lost = threading.Event()
        """Set when the claim is gone (reaped, given back) or the work is over."""
        self.done = threading.Event()
        """Set when the fetcher has finished with the job, whatever the outcome."""
        self.phase = "claimed"
        self.durations_ms: dict[str, int] = {}

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        self.phase = phase
        started = time.monotonic()
        try:
            yield
        finally:
            self.durations_ms[phase] = round((time.monotonic() - started) * 1000)

    def overdue(self) -> bool:
        """Whether the analysis has run past its deadline (the call is being cut off)."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def extra(self, **more: Any) -> dict[str, Any]:
        """Log fields: the job, a prefix of the client id (never a key), phase, attempt."""
        return {
            "job": self.job.file,
            "client": self.job.client[:15],
            "phase": self.phase,
            "attempt": self.fence,
            **more,
        }


class Claimer:
    """Reads the queue index, picks candidates, and claims them for ``holder``."""

    def __init__(
        self,
        settings: Settings,
        table: JobTable,
        holder: str,
        merge_dir: Path,
        on_unreadable: Unreadable,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.table = table
        self.holder = holder
        self.merge_dir = merge_dir
        self.on_unreadable = on_unreadable
        self.clock = clock
        self.last_file = ""
        """The job last claimed or tried, for the log line of a failure that escapes it."""
        self._no_room: dict[str, float] = {}
        """Jobs left queued for want of disk space, and when that was last logged."""
        self._backlog: list[dict[str, Any]] = []
        """The rest of the last index read, in rank order."""
        self._backlog_read = float("-inf")
        self.index_reads = 0
        """How many times the queue index was read (every shard once)."""

    def candidates(self) -> list[dict[str, Any]]:
        """Queued jobs this fetcher supports, in rank order across all shards.

        Rank is each job's place in its client's backlog, so this order serves
        clients round-robin (see ``shared.record.queue_rank``).
        """
        found: list[dict[str, Any]] = []
        for shard in range(self.settings.aws.queue_shards):
            found.extend(self.table.queued(f"q{shard}"))
        found.sort(key=lambda item: str(item.get("rank", "")))
        supported = self.settings.fetcher.supported_versions
        return [item for item in found if satisfies(str(item.get("version", "")), supported)]

    def next(self, stopping: threading.Event) -> Claim | None:
        """Claim the next job of the backlog; None when there is none to claim.

        The index is read again only once the last read is used up or older than
        ``poll_seconds``: a fetcher that finishes small jobs quickly takes the next
        ones from that read instead of querying every shard after each job (the
        claim's own check skips those others took meanwhile).
        """
        fs = self.settings.fetcher
        if not self._backlog or self.clock() - self._backlog_read > fs.poll_seconds:
            self._read()
        spread = claim_spread(fs.fleet_size, fs.claim_spread)
        missed = 0
        while self._backlog and not give_up_after(missed, fs.claim_misses):
            if stopping.is_set():
                return None
            claim = self.claim(str(self._backlog.pop(pick(len(self._backlog), spread))["file"]))
            if claim is not None:
                return claim
            missed += 1
        self._backlog = []  # the rest of a read others have emptied is not worth its reads
        return None

    def read_ahead(self, within: float) -> None:
        """Read the index now if ``next`` would have to read it again for a claim made
        ``within`` s from now.

        A pipelined fetcher calls this while its jobs are prepared and analysed, so
        that the claim made when a place frees starts at once instead of after a
        read of every shard (under load, a good part of a second the container
        would wait). A backlog used up (the queue was empty, or the read taken) is
        left to ``next``: a busy fetcher polls an empty queue no more often than an
        idle one. A failed read is left for ``next`` to make again.
        """
        if not self._backlog:
            return
        if self.clock() - self._backlog_read <= self.settings.fetcher.poll_seconds - within:
            return
        try:
            self._read()
        except (FpwError, BotoCoreError) as exc:
            log.warning("cannot read the queue ahead, will read it at the claim: %s", exc)

    def _read(self) -> None:
        self._backlog = self.candidates()
        self._backlog_read = self.clock()
        self.index_reads += 1

    def claim(self, file_id: str, size: int | None = None) -> Claim | None:
        """Claim one job; None when it is not to be had (taken, ended, too big for this disk).

        ``size``, when known (a stream hint carries it), spares the read of the record
        before the claim: a hint is of a job just queued, and the claim's own condition
        turns down one taken meanwhile. Never pass it for a job this holder holds: the
        refusal of that claim reads as the lost answer of our own (the read, by finding
        it no longer queued, is what tells the two apart)."""
        self.last_file = file_id
        if size is not None and size >= 0:
            if not self.room(file_id, size):
                return None
        elif not self.fits(file_id):
            return None
        update = transitions.claim(self.holder, iso(utc_now()))
        try:
            raw = self.table.apply_raw(file_id, update)
        except ClaimLost as exc:
            if not held_by(exc.raw, self.holder):
                return None
            # Our own claim: its answer was lost on the way back and the SDK's
            # retry found the job already ours. Dropping it here would leave it
            # PROCESSING with nobody at work until the watcher reaps it.
            log.info("%s: the answer to our claim was lost; the job is ours", file_id)
            raw = exc.raw
        except FpwError as exc:
            # A record the claim itself cannot update (a field of the wrong
            # type): leave it to the watcher, which ends it, and go on.
            log.warning("cannot claim %s: %s", file_id, exc)
            return None
        try:
            job = from_item(raw)
        except IntegrityError as exc:
            self.on_unreadable(file_id, self.holder, raw, exc.message)
            return None
        claim = Claim(job, self.holder, bulky_attributes(raw))
        log.info("claimed %s (attempt %d)", file_id, job.attempts, extra=claim.extra())
        return claim

    def fits(self, file_id: str) -> bool:
        """Whether a queued job's merged file fits in ``merge_dir`` now (False too when
        it is no longer queued, or cannot be read).

        Read before the claim: a claim spends one of the job's attempts, so a job
        too big for this disk is left queued, for a fetcher with room or for this
        one once space is freed, instead of ending in ERROR after a few claims.
        """
        try:
            peek = self.table.peek(file_id)
        except (FpwError, BotoCoreError) as exc:
            log.warning("cannot read %s before claiming it: %s", file_id, exc)
            return False
        if peek is None or peek.status != Status.QUEUED.value or peek.holder is not None:
            return False  # taken or ended since the index was read
        if peek.size is None:
            return True  # a record the claim will find unreadable, and end
        return self.room(file_id, peek.size)

    def room(self, file_id: str, size: int) -> bool:
        """Whether a job of ``size`` bytes fits in ``merge_dir`` now (said now and then if not)."""
        needed = size + ROOM_MARGIN_BYTES
        if needed <= free_bytes(self.merge_dir):
            self._no_room.pop(file_id, None)
            return True
        now = self.clock()
        if now - self._no_room.get(file_id, float("-inf")) >= NO_ROOM_LOG_SECONDS:
            self._no_room = {f: t for f, t in self._no_room.items() if now - t < 3600}
            self._no_room[file_id] = now
            error = disk_full(self.merge_dir, needed, f"job {file_id}", setting="fetcher.work_dir")
            log.warning("%s; the job stays queued for a fetcher with room", error)
        return False


def _size(attr: object) -> int:
    try:
        return len(repr(attr))
    except RecursionError:
        return 1 << 20


def bulky_attributes(raw: dict[str, Any]) -> frozenset[str]:
    """Names of a raw record's attributes to drop when it must shrink (see
    ``transitions.shrink``): those larger than ``BULKY_BYTES``, and any no part
    of fpw reads."""
    known = {*Job.__dataclass_fields__, HOLDER, "results"}
    return frozenset(
        str(name)
        for name, attr in raw.items()
        if name not in KEPT and (name not in known or _size(attr) > BULKY_BYTES)
    )


def held_by(raw: object, holder: str) -> TypeGuard[dict[str, Any]]:
    """Whether a raw record (a lost claim's ``raw``) is PROCESSING under ``holder``."""
    return (
        isinstance(raw, dict)
        and raw.get(HOLDER) == {"S": holder}
        and raw.get("status") == {"S": Status.PROCESSING.value}
        and "N" in raw.get("attempts", {})
    )
