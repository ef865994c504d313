"""Watching the inbox: filter events, wait until files are stable, submit.

The watchdog handler only filters and queues paths; a single loop decides
when a file is complete and hands it to the engine: same size and mtime for
``stable_seconds``, or, where the system reports it (inotify on Linux), for
``CLOSED_SETTLE_SECONDS`` after its writer closed it or it was moved in
whole. Files already in the folder at start are treated as just dropped.
The loop sleeps until an event while nothing is pending.
"""

from __future__ import annotations

import fnmatch
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_MOVED,
    EVENT_TYPE_OPENED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from shared.errors import FpwError

log = logging.getLogger(__name__)

IGNORED = ("~$*", ".~lock*", "*.part", "*.tmp", "*.crdownload", "*.swp", ".DS_Store", "Thumbs.db")
# A file its writer has closed, or one moved in whole, is complete unless it
# changes again: this pause only absorbs a writer that reopens it at once.
CLOSED_SETTLE_SECONDS = 0.2
# Events that say nothing about content (the engine's own reads among them).
READ_EVENTS = (EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE)
WRITTEN_EVENTS = (EVENT_TYPE_CLOSED, EVENT_TYPE_MOVED)
# A periodic rescan catches events a network folder never delivers.
RESCAN_SECONDS = 30.0


def ignored(name: str) -> bool:
    """Temporary, hidden and lock files are never jobs."""
    return name.startswith(".") or any(fnmatch.fnmatch(name, p) for p in IGNORED)


class _Handler(FileSystemEventHandler):
    def __init__(self, notify: Callable[[Path, bool], None]) -> None:
        self.notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in READ_EVENTS:
            return
        target = getattr(event, "dest_path", "") or event.src_path
        self.notify(Path(str(target)), event.event_type in WRITTEN_EVENTS)


class StableFiles:
    """Tracks candidate files until they stop changing (pure; time is passed in)."""

    def __init__(
        self, stable_seconds: float, closed_settle_seconds: float = CLOSED_SETTLE_SECONDS
    ) -> None:
        self.stable_seconds = stable_seconds
        self.closed_settle_seconds = min(closed_settle_seconds, stable_seconds)
        self._seen: dict[Path, tuple[int, int, float]] = {}
        self._written: set[Path] = set()
        """Closed by their writer (or moved in) and not reopened for writing since."""

    def touch(self, path: Path, written: bool | None = None) -> None:
        """Note ``path``: True when its writer closed it or it was moved in, False on
        any other change, None when it was only seen in a listing."""
        self._seen.setdefault(path, (-1, -1, 0.0))
        if written:
            self._written.add(path)
        elif written is False:
            self._written.discard(path)

    @property
    def pending(self) -> bool:
        return bool(self._seen)

    def ready(self, now: float) -> list[Path]:
        """Paths unchanged long enough; they are forgotten once returned."""
        out = []
        for path, (size, mtime, since) in list(self._seen.items()):
            try:
                st = path.stat()
            except FileNotFoundError:
                self._forget(path)
                continue
            current = (st.st_size, st.st_mtime_ns)
            wait = self.closed_settle_seconds if path in self._written else self.stable_seconds
            if current != (size, mtime):
                self._seen[path] = (*current, now)
            elif now - since >= wait:
                self._forget(path)
                out.append(path)
        return out

    def _forget(self, path: Path) -> None:
        del self._seen[path]
        self._written.discard(path)


def _observer() -> BaseObserver:
    """watchdog's observer for this system; on Linux one that reports a file moved in
    from outside the folder as a move (complete), not as a new file (maybe partial)."""
    if sys.platform.startswith("linux"):
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver(generate_full_events=True)
    return Observer()


class InboxWatcher:
    def __init__(
        self,
        inbox: Path,
        submit: Callable[[Path], object],
        stable_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inbox = inbox
        self.submit = submit
        self.clock = clock
        self.stable = StableFiles(stable_seconds)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._observer = _observer()

    def _notify(self, path: Path, written: bool | None = None) -> None:
        if path.parent != self.inbox or ignored(path.name):
            return
        with self._lock:
            self.stable.touch(path, written)
        self._wake.set()

    def scan(self) -> None:
        for path in sorted(self.inbox.iterdir()):
            if path.is_file():
                self._notify(path)

    def start(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        # Recursive, though only the folder's own files are taken: an original
        # moving to done/ is then one paired event; unpaired, watchdog holds
        # every later event back half a second to look for its other half.
        self._observer.schedule(_Handler(self._notify), str(self.inbox), recursive=True)
        self._observer.start()
        self.scan()

    def loop(self, interval: float = 0.1) -> None:
        last_scan = self.clock()
        while not self._stop.is_set():
            with self._lock:
                pending = self.stable.pending
            if pending:
                self._stop.wait(interval)
            else:
                self._wake.wait(RESCAN_SECONDS)  # idle: asleep until an event
            self._wake.clear()
            if self._stop.is_set():
                return
            if self.clock() - last_scan > RESCAN_SECONDS:
                self.scan()
                last_scan = self.clock()
            with self._lock:
                ready = self.stable.ready(self.clock())
            for path in ready:
                try:
                    self.submit(path)
                except FpwError as exc:
                    # It stays in the folder and is taken at the next rescan.
                    log.warning("could not take %s yet: %s", path.name, exc)
                except Exception:
                    log.exception("could not take %s", path.name)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._observer.stop()
        self._observer.join(timeout=5)
