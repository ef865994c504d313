"""The job state machine as pure functions: each returns the conditional
update that performs one transition.

Every write after a claim is fenced: conditional on ``holder = me AND
attempts = my fence``. ``attempts`` grows by one at each claim, so a holder
that lost its job (reaped as stalled, then claimed again) can never overwrite
the next holder's work, even if it wakes up with the same holder id. The
holder is stored as ``HOLDER`` (``processor``, its name in the format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shared.reasons import clean_reason
from shared.record import HOLDER, Status, sweep_shard, to_value

PLACEHOLDER = re.compile(r"#(\w+)")

# Named parts of the conditions, each guarding one timeline.
# The job is free: nobody holds it and it waits in the queue.
IS_QUEUED_AND_FREE = "attribute_not_exists(#holder) AND #status = :queued"
# The caller still holds the job under the fence it claimed with.
IS_HELD_BY_ME = "#holder = :me AND #attempts = :fence AND #status = :processing"
# The watcher saw this exact holder and heartbeat; if either moved since,
# the holder is alive (or another sweep acted first) and the write must fail.
IS_STALLED_AS_SEEN = (
    "#holder = :old_holder AND #attempts = :old_attempts"
    " AND #heartbeat = :old_heartbeat AND #status = :processing"
)
# A queued job nobody claimed, still as the watcher saw it.
IS_QUEUED_AS_SEEN = "#status = :queued AND attribute_not_exists(#holder) AND #created = :created"


@dataclass
class Update:
    """One UpdateItem: expressions plus their values and names.

    A ``#name`` placeholder the expressions use and ``names`` does not map
    stands for the attribute ``name`` (``#holder`` for the stored ``HOLDER``),
    so the names are exactly those the expressions use, as DynamoDB demands.
    """

    update: str
    condition: str
    values: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in PLACEHOLDER.findall(f"{self.update} {self.condition}"):
            self.names.setdefault(f"#{name}", HOLDER if name == "holder" else name)

    def kwargs(self) -> dict[str, Any]:
        return {
            "UpdateExpression": self.update,
            "ConditionExpression": self.condition,
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": {k: to_value(v) for k, v in self.values.items()},
        }


def claim(holder: str, now: str) -> Update:
    return Update(
        update=(
            "SET #holder = :me, #assigned = :now, #status = :processing,"
            " #heartbeat = :now, #attempts = if_not_exists(#attempts, :zero) + :one,"
            " #sweep = :sweep"
            " REMOVE #queue, #progress, #error"
        ),
        condition=IS_QUEUED_AND_FREE,
        values={
            ":me": holder,
            ":now": now,
            ":sweep": sweep_shard(holder + now),
            ":processing": Status.PROCESSING.value,
            ":queued": Status.QUEUED.value,
            ":zero": 0,
            ":one": 1,
        },
    )


def _held(holder: str, fence: int) -> dict[str, Any]:
    return {":me": holder, ":fence": fence, ":processing": Status.PROCESSING.value}


# How an attempt ends other than with a result: the job ends in ERROR, or goes back
# to the queue; and the values each uses.
END_IN_ERROR = "SET #status = :error, #processed = :now, #error = :reason, #expires = :expires"
BACK_TO_QUEUE = (
    "SET #status = :queued, #queue = :queue, #last_error = :reason"
    " REMOVE #holder, #assigned, #heartbeat, #progress"
)


def _error(now: str, reason: str, expires: int) -> dict[str, Any]:
    return {
        ":error": Status.ERROR.value,
        ":now": now,
        ":reason": clean_reason(reason),
        ":expires": expires,
    }


def _requeued(queue: str, reason: str) -> dict[str, Any]:
    return {":queued": Status.QUEUED.value, ":queue": queue, ":reason": clean_reason(reason)}


def heartbeat(holder: str, fence: int, now: str, progress: int | None = None) -> Update:
    update = "SET #heartbeat = :now"
    values: dict[str, Any] = {**_held(holder, fence), ":now": now}
    if progress is not None:
        update += ", #progress = :progress"
        values[":progress"] = max(0, min(100, progress))
    return Update(update, IS_HELD_BY_ME, values)


def downloaded(holder: str, fence: int, now: str) -> Update:
    return Update(
        "SET #downloaded = :now, #heartbeat = :now",
        IS_HELD_BY_ME,
        {**_held(holder, fence), ":now": now},
    )


def complete(
    holder: str,
    fence: int,
    now: str,
    results: bytes | str,
    expires: int,
    result_signature: str,
    fleet_key: str,
) -> Update:
    """Finish with the encrypted result (or its ``s3://`` pointer when large) and the
    fleet's signature over it (``shared.fleet``)."""
    return Update(
        "SET #status = :completed, #processed = :now, #results = :results,"
        " #result_signature = :result_signature, #fleet_key = :fleet_key,"
        " #expires = :expires, #progress = :hundred REMOVE #heartbeat",
        IS_HELD_BY_ME,
        {
            **_held(holder, fence),
            ":completed": Status.COMPLETED.value,
            ":now": now,
            ":results": results,
            ":result_signature": result_signature,
            ":fleet_key": fleet_key,
            ":expires": expires,
            ":hundred": 100,
        },
    )


def fail(holder: str, fence: int, now: str, reason: str, expires: int) -> Update:
    return Update(
        END_IN_ERROR + " REMOVE #heartbeat",
        IS_HELD_BY_ME,
        {**_held(holder, fence), **_error(now, reason, expires)},
    )


def shrink(holder: str, fence: int, *, emptied: dict[str, Any], removed: tuple[str, ...]) -> Update:
    """Make room in a held record too large to take its ERROR write (``fail`` follows).

    ``emptied`` sets bulky fields the record must keep (to stay readable by the
    client and the watcher) to an empty value of their type; ``removed`` drops
    the others. The removals come first, so no step of the update is larger
    than the record already was.
    """
    names: dict[str, str] = {}
    values: dict[str, Any] = _held(holder, fence)
    kept = {"file", "status", HOLDER, "attempts"}
    drops = []
    for i, name in enumerate(sorted(set(removed) - set(emptied) - kept)):
        names[f"#r{i}"] = name
        drops.append(f"#r{i}")
    sets = []
    for i, (name, empty) in enumerate(sorted(emptied.items())):
        if name not in kept:
            names[f"#e{i}"] = name
            values[f":e{i}"] = empty
            sets.append(f"#e{i} = :e{i}")
    update = " ".join(
        part
        for part in (
            f"REMOVE {', '.join(drops)}" if drops else "",
            f"SET {', '.join(sets)}" if sets else "",
        )
        if part
    )
    return Update(update or "SET #status = :processing", IS_HELD_BY_ME, values, names)


def release(holder: str, fence: int, queue: str, reason: str) -> Update:
    """Give a held job back to the queue (shutdown, or a retryable failure)."""
    return Update(
        BACK_TO_QUEUE, IS_HELD_BY_ME, {**_held(holder, fence), **_requeued(queue, reason)}
    )


def _stalled(old_holder: str, old_attempts: int, old_heartbeat: str) -> dict[str, Any]:
    return {
        ":old_holder": old_holder,
        ":old_attempts": old_attempts,
        ":old_heartbeat": old_heartbeat,
        ":processing": Status.PROCESSING.value,
    }


def requeue_stalled(
    old_holder: str, old_attempts: int, old_heartbeat: str, queue: str, reason: str
) -> Update:
    return Update(
        BACK_TO_QUEUE,
        IS_STALLED_AS_SEEN,
        {**_stalled(old_holder, old_attempts, old_heartbeat), **_requeued(queue, reason)},
    )


def fail_stalled(
    old_holder: str, old_attempts: int, old_heartbeat: str, now: str, reason: str, expires: int
) -> Update:
    return Update(
        END_IN_ERROR + " REMOVE #heartbeat",
        IS_STALLED_AS_SEEN,
        {**_stalled(old_holder, old_attempts, old_heartbeat), **_error(now, reason, expires)},
    )


def fail_queued(created: str, now: str, reason: str, expires: int) -> Update:
    """End a queued job nobody can finish (its upload stopped, say); the watcher
    sees it among the recent errors (``sweep-index``)."""
    return Update(
        END_IN_ERROR + ", #sweep = :sweep REMOVE #queue",
        IS_QUEUED_AS_SEEN,
        {
            ":sweep": sweep_shard(created + now),
            ":queued": Status.QUEUED.value,
            ":created": created,
            **_error(now, reason, expires),
        },
    )


# A record that does not parse, not yet ended: nobody can hold it (a fetcher
# that claims one ends it at once), so no holder's fence is at stake.
IS_UNREADABLE_AND_OPEN = (
    "attribute_exists(#file) AND (attribute_not_exists(#status) OR #status <> :error)"
)


def fail_unreadable(now: str, reason: str, expires: int) -> Update:
    """End a malformed record as ERROR and take it out of the queue index."""
    return Update(
        END_IN_ERROR + ", #sweep = :sweep REMOVE #queue",
        IS_UNREADABLE_AND_OPEN,
        {":sweep": sweep_shard(now + reason), **_error(now, reason, expires)},
    )


# A finished job of this client, not yet marked delivered: the only kind whose
# result a receipt may delete (and only once, however many watchers sweep).
IS_FINISHED_JOB_OF = (
    "#client = :client AND (#status = :completed OR #status = :error)"
    " AND attribute_not_exists(#delivered)"
)
# A finished job whose retention ran out, as the sweep saw it.
IS_FINISHED_AND_EXPIRED = (
    "(#status = :completed OR #status = :error) AND #expires = :expires"
    " AND attribute_not_exists(#delivered)"
)


def _finished_values() -> dict[str, Any]:
    return {":completed": Status.COMPLETED.value, ":error": Status.ERROR.value}


def delivered(client: str, now: str) -> Update:
    """The client confirmed receipt: the result goes, the record keeps only metadata."""
    return Update(
        "SET #delivered = :now REMOVE #results",
        IS_FINISHED_JOB_OF,
        {":now": now, ":client": client, **_finished_values()},
    )


def expired(expires: int, now: str) -> Update:
    """Nobody collected the result within its retention: delete it, say so in the record."""
    return Update(
        "SET #expired = :now REMOVE #results",
        IS_FINISHED_AND_EXPIRED,
        {":now": now, ":expires": expires, **_finished_values()},
    )


def retire() -> Update:
    """Take a finished job out of ``sweep-index``: its result is delivered, expired or
    never was, and it ended long enough ago to have left the recent-error counts."""
    return Update(
        "REMOVE #sweep",
        "(#status = :completed OR #status = :error) AND attribute_exists(#sweep)",
        _finished_values(),
    )
