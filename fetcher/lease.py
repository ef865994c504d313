"""Stream-reader leases: which processes of a fleet read the table's stream.

DynamoDB Streams serve at most two concurrent readers per shard. Every
reader reads every shard, so the number of readers is the number of lease
*slots* (``fetcher.stream_readers``, at most two), whatever the fleet size.
A slot is an item in the jobs table (``file = "lease#stream#<n>"``, never a
``file-`` id, so it is in no index and scans skip it) holding the holder's
id, the lease's end and the reading checkpoints, so that a new holder resumes
where the last one stopped.

Safety against a third reader: a holder stops reading a third of the lease
before it ends by its own clock unless it has renewed, and another process
takes the slot only once it has ended by *its* clock; so clocks may disagree
by up to a third of ``fetcher.lease_seconds`` without two holders reading at
once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError

from fetcher.stream import Checkpoints
from shared.errors import ClaimLost, FpwError
from shared.table import JobTable
from shared.transitions import Update

log = logging.getLogger(__name__)

LEASE_PREFIX = "lease#stream#"
MAX_STREAM_READERS = 2

# The slot is free: never taken, given back, or its lease has ended.
IS_FREE_OR_MINE = "attribute_not_exists(#holder) OR #until < :now OR #holder = :me"
# Only the holder renews or gives back; a holder that was displaced fails.
IS_MINE = "#holder = :me"


def slot_key(slot: int) -> str:
    return f"{LEASE_PREFIX}{slot}"


def take(holder: str, now_ms: int, until_ms: int) -> Update:
    # ``created`` tells a slot's very first holder (nothing was ever read
    # through it) from one taking over a lapsed holder's place.
    return Update(
        update="SET #holder = :me, #until = :until, #created = if_not_exists(#created, :now)",
        condition=IS_FREE_OR_MINE,
        names={"#holder": "holder", "#until": "until", "#created": "created"},
        values={":me": holder, ":now": now_ms, ":until": until_ms},
    )


def renew(holder: str, until_ms: int, checkpoints: Checkpoints) -> Update:
    return Update(
        update="SET #until = :until, #checkpoints = :checkpoints",
        condition=IS_MINE,
        names={"#holder": "holder", "#until": "until", "#checkpoints": "checkpoints"},
        values={
            ":me": holder,
            ":until": until_ms,
            ":checkpoints": json.dumps(checkpoints.to_json(), sort_keys=True),
        },
    )


def give_back(holder: str, checkpoints: Checkpoints) -> Update:
    """A renewal that ends the lease at once and frees the slot."""
    lease = renew(holder, 0, checkpoints)
    # A new Update, not the renewal changed in place: its names are worked out
    # from the whole expression.
    return Update(lease.update + " REMOVE #holder", lease.condition, lease.values, lease.names)


def checkpoints_of(item: dict[str, Any]) -> Checkpoints:
    raw = item.get("checkpoints", {}).get("S")
    if not raw:
        return Checkpoints()
    try:
        return Checkpoints.from_json(json.loads(raw))
    except (ValueError, TypeError, AttributeError, RecursionError):
        log.warning("unreadable stream checkpoints; reading from the oldest record")
        return Checkpoints()


class StreamLease:
    """One process's hold on at most one reader slot."""

    def __init__(
        self,
        table: JobTable,
        holder: str,
        *,
        slots: int,
        seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.holder = holder
        self.slots = max(0, min(slots, MAX_STREAM_READERS))
        self.seconds = seconds
        self.clock = clock
        self.slot: int | None = None
        self.until_ms = 0
        self.checkpoints = Checkpoints()
        self.first_holder = False
        """This process created the slot: no reader before it, so nothing to catch up on."""

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def valid(self) -> bool:
        """May this process read now? Stops a third of the lease early (clock skew)."""
        margin = int(self.seconds * 1000 / 3)
        return self.slot is not None and self._now_ms() < self.until_ms - margin

    def try_take(self) -> bool:
        now = self._now_ms()
        until = now + int(self.seconds * 1000)
        for slot in range(self.slots):
            try:
                item = self.table.apply_raw(slot_key(slot), take(self.holder, now, until))
            except ClaimLost:
                continue
            except (FpwError, BotoCoreError) as exc:
                log.warning("cannot take a stream lease: %s", exc)
                return False
            self.slot, self.until_ms = slot, until
            self.checkpoints = checkpoints_of(item)
            self.first_holder = item.get("created", {}).get("N") == str(now)
            log.info("reading the job stream (lease slot %d)", slot)
            return True
        return False

    def renew(self) -> bool:
        if self.slot is None:
            return False
        until = self._now_ms() + int(self.seconds * 1000)
        try:
            self.table.apply_raw(slot_key(self.slot), renew(self.holder, until, self.checkpoints))
        except ClaimLost:
            log.warning("stream lease slot %d was taken over; no longer reading", self.slot)
            self.slot = None
            return False
        except (FpwError, BotoCoreError) as exc:
            # Keep the old end: valid() stops reading in time if this persists.
            log.warning("cannot renew the stream lease: %s", exc)
            return self.valid()
        self.until_ms = until
        return True

    def give_back(self) -> None:
        if self.slot is None:
            return
        slot, self.slot = self.slot, None
        try:
            self.table.apply_raw(slot_key(slot), give_back(self.holder, self.checkpoints))
        except (FpwError, BotoCoreError) as exc:
            log.info("stream lease slot %d not given back (it will expire): %s", slot, exc)
