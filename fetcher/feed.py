"""Keeping the analysis container fed: the bounds of a pipelined fetcher.

A pipelined fetcher holds two kinds of jobs: those being analysed (at most the
container's capacity, ``slots``) and those claimed and being prepared or
waiting for a slot (at most ``prefetch_jobs``, ``waiting``). A job takes a
waiting place before it is claimed and trades it for a slot just before its
analysis, so neither bound is ever exceeded, and prefetching never holds more
jobs than the container can start on soon.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from shared.errors import ClaimLost

WAIT_STEP_SECONDS = 0.5
"""How often a job waiting for a slot checks whether its claim is still held."""


class Gate:
    """A counter with a limit that may change while it is in use."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._used = 0
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    def resize(self, limit: int) -> None:
        with self._cond:
            self._limit = max(1, limit)
            self._cond.notify_all()

    def acquire(self, timeout: float) -> bool:
        """Take a place; False when none freed up within ``timeout`` s."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._used < self._limit, timeout):
                return False
            self._used += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._used = max(0, self._used - 1)
            self._cond.notify_all()


class Place:
    """One job's waiting place: given up once, by its slot or by its end."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._held = True
        self._lock = threading.Lock()

    def give_up(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._gate.release()


class Feed:
    """The two bounds: analyses in flight (``slots``) and jobs waiting for one."""

    def __init__(self, capacity: int, prefetch: int) -> None:
        self.slots = Gate(capacity)
        self.waiting = Gate(prefetch or capacity)
        self._follow = prefetch == 0
        """Whether the waiting bound follows the capacity (one per slot)."""

    def resize(self, capacity: int) -> None:
        """The container's declared capacity, read again."""
        self.slots.resize(capacity)
        if self._follow:
            self.waiting.resize(capacity)

    def place(self, timeout: float) -> Place | None:
        """A waiting place for the next claim; None while the bound is reached."""
        return Place(self.waiting) if self.waiting.acquire(timeout) else None

    @contextlib.contextmanager
    def slot(self, place: Place, lost: threading.Event, job: str) -> Iterator[None]:
        """An analysis slot for the job holding ``place``, for the length of the block;
        ``ClaimLost`` when the claim goes while it waits (given back on shutdown)."""
        while not self.slots.acquire(WAIT_STEP_SECONDS):
            if lost.is_set():
                raise ClaimLost("the claim went while the job waited for the processor", job=job)
        place.give_up()
        try:
            yield
        finally:
            self.slots.release()
