"""Drops a full disk stopped: they wait for room instead of retrying in a loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.disk import free_bytes
from shared.errors import DiskFullError

# A drop that found no room on disk is tried again once this much more is
# free, or after this long (space may have been freed and taken again).
ROOM_GROWTH_BYTES = 1024 * 1024
ROOM_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class NoRoom:
    """A drop that a full disk stopped: where, and how much was free then."""

    directory: Path
    free: int
    at: float


class Room:
    """Which drops wait for room, and whether there may be room for them now."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._stopped: dict[str, NoRoom] = {}

    def stopped(self, file_id: str, exc: DiskFullError) -> None:
        self._stopped[file_id] = NoRoom(exc.directory, exc.free, self.clock())

    def again(self, file_id: str) -> bool:
        """False while a drop stopped by a full disk should go on waiting for room."""
        stopped = self._stopped.get(file_id)
        if stopped is None:
            return True
        grown = free_bytes(stopped.directory) >= stopped.free + ROOM_GROWTH_BYTES
        if grown or self.clock() - stopped.at >= ROOM_RETRY_SECONDS:
            self._stopped.pop(file_id, None)
            return True
        return False
