"""From agent threads to the GUI thread: callbacks become queued Qt signals.

``AgentBridge`` also runs the GUI's requests (pause, retry, remove, start
the agent) on a small worker pool, so a click never waits for SQLite, the
keyring or the network; the outcome comes back as a signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class AgentBridge(QObject):
    job_changed = Signal(object)
    """A ``JobView`` whose job moved: ``job_changed.emit`` is the agent's listener (any
    thread), delivered queued."""
    done = Signal(object, object)
    """(callback, outcome) of a background call, delivered in the GUI thread."""
    failed = Signal(str)
    """Text of a background call's error, for the user."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fpw-gui-call")
        self.done.connect(self._deliver)

    def call(
        self,
        work: Callable[[], Any],
        then: Callable[[Any], object] | None = None,
        fail: Callable[[str], object] | None = None,
    ) -> None:
        """Run ``work`` off the GUI thread; ``then(outcome)`` or ``fail(text)`` runs back on it."""

        def run() -> None:
            try:
                outcome = work()
            except Exception as exc:
                log.warning("%s", exc)
                self.done.emit(fail or self.failed.emit, str(exc))
                return
            if then is not None:
                self.done.emit(then, outcome)

        self._pool.submit(run)

    def _deliver(self, then: Callable[[Any], object], outcome: Any) -> None:
        then(outcome)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
