"""Fenced writes: everything a holder writes about the job it holds.

Each write carries the claim's fence (the record's ``attempts`` at the claim)
and its holder in its condition, so a holder whose claim was taken away (the
watcher requeued a stalled job) can never overwrite the next holder's work.
The heartbeat is one of them, run on its own thread while the job is worked on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError

from fetcher.claims import Claim, bulky_attributes
from fetcher.processor_client import progress
from shared import transitions
from shared.config import Settings
from shared.errors import ClaimLost, FpwError, RecordTooLarge
from shared.reasons import clean_reason
from shared.record import Job, Status, iso, queue_shard, utc_now
from shared.table import JobTable

log = logging.getLogger(__name__)

EMPTIED: dict[str, Any] = {
    "chunk_sha256": [],
    "params": {},
    "version": "",
    "bucket": "",
    "sha256": "",
    "compression": "",
    "rank": "",
    "content_type": "application/octet-stream",
}
"""What a bulky attribute becomes when the record must keep the field to stay
readable; any other bulky attribute is removed."""


class Fences:
    """The holder's writes to the jobs table, each fenced by its claim."""

    def __init__(
        self, settings: Settings, table: JobTable, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.fs = settings.fetcher
        self.table = table
        self.clock = clock

    def write(self, claim: Claim, update: transitions.Update) -> None:
        """One fenced transition; ``ClaimLost`` when the claim is gone."""
        if claim.lost.is_set():
            raise ClaimLost("the claim was lost", job=claim.job.file)
        # Raw: the answer is not needed, and a record someone else damaged
        # meanwhile must not keep the holder from finishing its own write.
        self.table.apply_raw(claim.job.file, update)

    def expires(self) -> int:
        """When a finished job's record goes (its result's retention)."""
        return int(self.clock()) + self.fs.result_retention_seconds

    def fail(self, claim: Claim, reason: str) -> None:
        """End the held job as ERROR; never raises (the watcher ends what this cannot)."""
        reason = clean_reason(reason)
        log.error("%s ends in ERROR: %s", claim.job.file, reason, extra=claim.extra())
        self._end(claim.job.file, claim.holder, claim.fence, reason, claim.bulky)

    def fail_unreadable(self, file_id: str, holder: str, raw: dict[str, Any], reason: str) -> None:
        """A claimed record that does not parse ends as ERROR at once: no retry can cure it."""
        reason = clean_reason(reason)
        log.error("%s ends in ERROR: %s", file_id, reason)
        try:
            fence = int(raw["attempts"]["N"])  # written by our own claim
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("could not end %s (the watcher will): %s", file_id, exc)
            return
        self._end(file_id, holder, fence, reason, bulky_attributes(raw))

    def _end(
        self, file_id: str, holder: str, fence: int, reason: str, bulky: frozenset[str]
    ) -> None:
        """The fenced ERROR write; a record too large to take it loses its bulky attributes."""
        expires = self.expires()
        now = iso(utc_now())
        try:
            try:
                self.table.apply_raw(file_id, transitions.fail(holder, fence, now, reason, expires))
            except RecordTooLarge:
                log.warning("%s: the record is too large to take the error; shrinking it", file_id)
                emptied = {name: EMPTIED[name] for name in bulky if name in EMPTIED}
                removed = tuple(name for name in bulky if name not in EMPTIED)
                self.table.apply_raw(
                    file_id, transitions.shrink(holder, fence, emptied=emptied, removed=removed)
                )
                note = " (the record was too large: its bulky fields were removed)"
                self.table.apply_raw(
                    file_id,
                    transitions.fail(holder, fence, now, clean_reason(reason, 900) + note, expires),
                )
        except ClaimLost:
            pass
        except (FpwError, BotoCoreError) as exc:
            log.warning("could not end %s (the watcher will): %s", file_id, clean_reason(exc))

    def release(self, claim: Claim, reason: str) -> None:
        """Give the held job back to the queue; never raises."""
        reason = clean_reason(reason)
        log.warning("giving %s back to the queue: %s", claim.job.file, reason, extra=claim.extra())
        shard = queue_shard(claim.job.file, self.settings.aws.queue_shards)
        try:
            self.table.apply_raw(
                claim.job.file, transitions.release(claim.holder, claim.fence, shard, reason)
            )
        except ClaimLost:
            pass
        except RecordTooLarge:
            # A record that cannot take a reason would stall every next holder too.
            self.fail(claim, reason)
        except (FpwError, BotoCoreError) as exc:
            log.warning(
                "could not give %s back (the watcher will): %s", claim.job.file, clean_reason(exc)
            )

    def heartbeat(self, claim: Claim) -> None:
        """Keep the claim alive until it is over; notice at once when it was taken away."""
        while not claim.lost.wait(self.fs.heartbeat_seconds):
            if claim.overdue():
                # The analysis is over its deadline: the call is being cut off and
                # the job given back; a job nobody works on is not kept alive.
                log.warning("%s is past its analysis deadline; no more heartbeats", claim.job.file)
                return
            percent = None
            if claim.phase == "analyze":
                # Processors that do not report progress answer 404: no harm.
                percent = progress(self.fs.processor_url, claim.job.file)
            try:
                self.table.apply_raw(
                    claim.job.file,
                    transitions.heartbeat(claim.holder, claim.fence, iso(utc_now()), percent),
                )
            except ClaimLost as exc:
                current = exc.current
                if current is not None and current.status.finished:
                    if current.holder == claim.holder and current.attempts == claim.fence:
                        return  # our own completion won the race with this beat
                log.warning("%s was taken away (stalled?); stopping", claim.job.file)
                claim.lost.set()
                return
            except (FpwError, BotoCoreError) as exc:
                log.warning("heartbeat of %s failed: %s", claim.job.file, exc)


def completed_by(current: Job | None, holder: str, fence: int) -> bool:
    """Whether a record (a lost write's ``current``) is this holder's own completion."""
    return (
        current is not None
        and current.status is Status.COMPLETED
        and current.holder == holder
        and current.attempts == fence
    )
