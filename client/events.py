"""What the engine tells its faces (tray, CLI, API) about each drop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from client.state import Phase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One step of one drop."""

    file_id: str
    name: str
    phase: Phase
    detail: str = ""
    progress: float | None = None
    """Percent of the current step (chunks confirmed, or the processor's report)."""
    status: str | None = None
    """The record's status while WAITING (QUEUED, PROCESSING, COMPLETED = downloading)."""


Listener = Callable[[Event], None]


@dataclass
class Listeners:
    """The faces listening; each is called from the engine's threads."""

    _listeners: list[Listener] = field(default_factory=list)

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def tell(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                # A broken face must not stop the engine.
                log.exception("event listener failed")
