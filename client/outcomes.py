"""What becomes of a drop when one of its steps raises: one rule per exception class.

A step (sending, collecting) fails its own drop alone; the rules say whether
the drop waits, is tried again, or fails, and with which reason. The first
rule whose class matches decides. A drop a full disk stopped waits for room
instead of retrying in a loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from botocore.exceptions import BotoCoreError

from client.drops import Drops
from client.places import one_line
from client.staging import FileChanged
from client.upload import Paused
from shared.disk import free_bytes
from shared.errors import DiskFullError, FpwError, IntegrityError

log = logging.getLogger(__name__)

NETWORK_ERRORS = (BotoCoreError, ConnectionError, TimeoutError)
# A step that fails in an unexpected way is tried this many times, then the
# drop fails with the reason (the others go on meanwhile).
STEP_TRIES = 3
# A drop that found no room on disk is tried again once this much more is
# free, or after this long (space may have been freed and taken again).
ROOM_GROWTH_BYTES = 1024 * 1024
ROOM_RETRY_SECONDS = 60.0


class DropOutcome(Enum):
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


Rules = tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], DropOutcome], ...]

SENDING: Rules = (
    ((FileChanged, Paused), DropOutcome.STAYS),
    (DiskFullError, DropOutcome.ROOM),
    (NETWORK_ERRORS, DropOutcome.OFFLINE),
    (IntegrityError, DropOutcome.FAIL),
    (FpwError, DropOutcome.FAIL),  # AGAIN when the error says it is recoverable
    (OSError, DropOutcome.FAIL),  # unreadable, a link swapped in, a name the system refuses
    (Exception, DropOutcome.TROUBLE),
)
COLLECTING: Rules = (
    (NETWORK_ERRORS, DropOutcome.OFFLINE),
    (DiskFullError, DropOutcome.ROOM),
    (Exception, DropOutcome.TROUBLE),
)


def outcome(exc: BaseException, rules: Rules) -> DropOutcome:
    """What the first matching rule says; a recoverable ``FpwError`` is tried again."""
    for kind, then in rules:
        if isinstance(exc, kind):
            if then is DropOutcome.FAIL and isinstance(exc, FpwError) and exc.recoverable:
                return DropOutcome.AGAIN
            return then
    raise exc


def failure_reason(exc: BaseException) -> str:
    """Why a drop failed, as the user reads it in the jobs list and in ``failed/``."""
    if isinstance(exc, FileNotFoundError):
        return "the file disappeared before it was uploaded"
    if isinstance(exc, OSError):
        return f"cannot be read: {one_line(exc)}"
    return str(exc)


@dataclass(frozen=True)
class NoRoom:
    """A drop that a full disk stopped: where, and how much was free then."""

    directory: Path
    free: int
    at: float


@dataclass
class ErrorPolicy:
    """Does what the rules say for a step of one drop that raised."""

    drops: Drops
    offline: bool = False
    """The last call to AWS failed for want of a network."""
    # Unexpected failures of each drop's current step, counted up to STEP_TRIES.
    _troubles: dict[str, int] = field(default_factory=dict, init=False)
    _no_room: dict[str, NoRoom] = field(default_factory=dict, init=False)

    def handle(self, file_id: str, step: str, exc: Exception, rules: Rules) -> None:
        then = outcome(exc, rules)
        if then is DropOutcome.STAYS:
            log.info("%s: %s", file_id, exc)
        elif then is DropOutcome.ROOM:
            assert isinstance(exc, DiskFullError)
            self._wait_for_room(file_id, exc)
        elif then is DropOutcome.OFFLINE:
            self.offline = True
            log.warning("%s: network problem while %s, will retry: %s", file_id, step, exc)
        elif then is DropOutcome.AGAIN:
            log.warning("%s: will retry: %s", file_id, exc)
        elif then is DropOutcome.FAIL:
            self.drops.fail(file_id, failure_reason(exc))
        else:
            self._trouble(file_id, step, exc)

    def went_well(self, file_id: str) -> None:
        """A step of the drop succeeded: its count of unexpected failures starts again."""
        self._troubles.pop(file_id, None)

    def _trouble(self, file_id: str, step: str, exc: BaseException) -> None:
        """Count a failed step of one drop; retry it later, or fail the drop after
        ``STEP_TRIES``. Only errors of no known kind are logged with a traceback."""
        tries = self._troubles.get(file_id, 0) + 1
        self._troubles[file_id] = tries
        reason = one_line(exc)
        if tries >= STEP_TRIES:
            self._troubles.pop(file_id, None)
            self.drops.fail(file_id, f"{step} failed {tries} times: {reason}")
        elif isinstance(exc, OSError | FpwError | ValueError):
            log.warning(
                "%s: %s failed (try %d of %d): %s", file_id, step, tries, STEP_TRIES, reason
            )
        else:
            log.exception("%s: %s failed (try %d of %d)", file_id, step, tries, STEP_TRIES)

    def room_again(self, file_id: str) -> bool:
        """False while a drop stopped by a full disk should go on waiting for room."""
        stopped = self._no_room.get(file_id)
        if stopped is None:
            return True
        grown = free_bytes(stopped.directory) >= stopped.free + ROOM_GROWTH_BYTES
        if grown or self.drops.clock() - stopped.at >= ROOM_RETRY_SECONDS:
            self._no_room.pop(file_id, None)
            return True
        return False

    def _wait_for_room(self, file_id: str, exc: DiskFullError) -> None:
        """Keep the drop where it is, say why where the user looks, and wait for room."""
        self._no_room[file_id] = NoRoom(exc.directory, exc.free, self.drops.clock())
        log.warning("%s", exc)
        state = self.drops.state
        drop = state.get(file_id)
        if drop is not None:
            state.update(file_id, self.drops.clock(), error=str(exc))
            self.drops.tell(drop, drop.phase, str(exc))
