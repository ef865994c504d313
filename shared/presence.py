"""Fetcher presence: each fetcher says every so often who it is and what it takes.

An item per fetcher in the jobs table (``file = "fetcher#<holder id>"``,
never a ``file-`` id, so it is in no index and scans of jobs skip it), with
a TTL so that fetchers long gone disappear. ``fpw status`` lists them with
their versions, and tells which queued jobs no running fetcher supports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import FpwError
from shared.record import HOLDER, iso, parse_iso
from shared.transitions import Update

PRESENCE_PREFIX = "fetcher#"
EVERY_SECONDS = 15.0
"""How often an idle fetcher announces itself (a busy one heartbeats its job instead)."""
GONE_SECONDS = 2 * EVERY_SECONDS
"""A fetcher neither announced nor heartbeating a job for this long is gone
(killed, crashed, or its host lost): twice the interval, so that one late
announcement of a slow idle loop never counts as gone."""
KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Presence:
    holder: str
    """The fetcher's id, as it holds jobs (``processor-<uuid>``)."""
    version: str
    """The fetcher's own software version."""
    supports: str
    """The client versions it takes (semver range)."""
    seen: dt.datetime


def alive(presence: Presence, now: dt.datetime, last_heartbeat: dt.datetime | None = None) -> bool:
    """Whether the fetcher was heard from within ``GONE_SECONDS``: its own
    announcement, or ``last_heartbeat``, the freshest heartbeat of a job it holds."""
    heard = max(presence.seen, last_heartbeat) if last_heartbeat else presence.seen
    return (now - heard).total_seconds() <= GONE_SECONDS


def announce(presence: Presence, expires: int) -> Update:
    """An unconditional upsert: only the fetcher itself writes its item."""
    return Update(
        "SET #holder = :holder, #version = :version, #supports = :supports,"
        " #seen = :seen, #expires = :expires",
        "attribute_not_exists(#file) OR #holder = :holder",
        {
            ":holder": presence.holder,
            ":version": presence.version,
            ":supports": presence.supports,
            ":seen": iso(presence.seen),
            ":expires": expires,
        },
    )


def parse(item: Mapping[str, Any]) -> Presence | None:
    """A presence item as read by a scan (None when it is not one)."""
    try:
        if not item["file"]["S"].startswith(PRESENCE_PREFIX):
            return None
        return Presence(
            holder=item[HOLDER]["S"],
            version=item["version"]["S"],
            supports=item["supports"]["S"],
            seen=parse_iso(item["seen"]["S"]),
        )
    except (KeyError, TypeError, AttributeError, ValueError, FpwError):
        return None
