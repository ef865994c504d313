"""What becomes of a drop when one of its steps raises: one rule per exception class.

A step (sending, collecting) fails its own drop alone; the rules say whether
the drop waits, is tried again, or fails, and with which reason. The first
rule whose class matches decides.
"""

from __future__ import annotations

import logging
from enum import Enum

from botocore.exceptions import BotoCoreError

from client.drops import Drops
from client.places import one_line
from client.room import Room
from client.staging import FileChanged
from client.upload import Paused
from shared.errors import DiskFullError, FpwError, IntegrityError

log = logging.getLogger(__name__)

NETWORK_ERRORS = (BotoCoreError, ConnectionError, TimeoutError)


class Outcome(Enum):
    STAYS = "stays"
    """Said in the log; the drop stays where it is (a newer drop, or unpausing, moves on)."""
    ROOM = "room"
    """The disk is full: the drop waits for room rather than retrying in a loop."""
    OFFLINE = "offline"
    """The network is down: tried again on the next pass."""
    AGAIN = "again"
    """A passing condition the error says it is: tried again on the next pass."""
    FAIL = "fail"
    """The drop fails now, with the error as its reason."""
    TROUBLE = "trouble"
    """Unexpected: counted, tried again, and the drop fails after a few tries."""


Rules = tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Outcome], ...]

SENDING: Rules = (
    ((FileChanged, Paused), Outcome.STAYS),
    (DiskFullError, Outcome.ROOM),
    (NETWORK_ERRORS, Outcome.OFFLINE),
    (IntegrityError, Outcome.FAIL),
    (FpwError, Outcome.FAIL),  # AGAIN when the error says it is recoverable
    (OSError, Outcome.FAIL),  # unreadable, a link swapped in, a name the system refuses
    (Exception, Outcome.TROUBLE),
)
COLLECTING: Rules = (
    (NETWORK_ERRORS, Outcome.OFFLINE),
    (DiskFullError, Outcome.ROOM),
    (Exception, Outcome.TROUBLE),
)


def outcome(exc: BaseException, rules: Rules) -> Outcome:
    """What the first matching rule says; a recoverable ``FpwError`` is tried again."""
    for kind, then in rules:
        if isinstance(exc, kind):
            if then is Outcome.FAIL and isinstance(exc, FpwError) and exc.recoverable:
                return Outcome.AGAIN
            return then
    raise exc


def failure_reason(exc: BaseException) -> str:
    """Why a drop failed, as the user reads it in the jobs list and in ``failed/``."""
    if isinstance(exc, FileNotFoundError):
        return "the file disappeared before it was uploaded"
    if isinstance(exc, OSError):
        return f"cannot be read: {one_line(exc)}"
    return str(exc)


class ErrorPolicy:
    """Does what the rules say for a step of one drop that raised."""

    def __init__(self, drops: Drops, room: Room) -> None:
        self.drops = drops
        self.room = room
        self.offline = False
        """The last call to AWS failed for want of a network."""

    def handle(self, file_id: str, step: str, exc: Exception, rules: Rules) -> None:
        then = outcome(exc, rules)
        if then is Outcome.STAYS:
            log.info("%s: %s", file_id, exc)
        elif then is Outcome.ROOM:
            assert isinstance(exc, DiskFullError)
            self._wait_for_room(file_id, exc)
        elif then is Outcome.OFFLINE:
            self.offline = True
            log.warning("%s: network problem while %s, will retry: %s", file_id, step, exc)
        elif then is Outcome.AGAIN:
            log.warning("%s: will retry: %s", file_id, exc)
        elif then is Outcome.FAIL:
            self.drops.fail(file_id, failure_reason(exc))
        else:
            self.drops.trouble(file_id, step, exc)

    def _wait_for_room(self, file_id: str, exc: DiskFullError) -> None:
        """Keep the drop where it is, say why where the user looks, and wait for room."""
        self.room.stopped(file_id, exc)
        log.warning("%s", exc)
        state = self.drops.state
        drop = state.get(file_id)
        if drop is not None:
            state.update(file_id, self.drops.clock(), error=str(exc))
            self.drops.tell(drop, drop.phase, str(exc))
