"""Watching the inbox: filter events, wait until files are stable, submit.

The watchdog handler only filters and queues paths; a single loop decides
when a file is complete (same size and mtime for ``stable_seconds``, and
not open for writing where that can be checked) and hands it to the engine.
Files already in the folder at start are treated as just dropped.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)

IGNORED = ("~$*", ".~lock*", "*.part", "*.tmp", "*.crdownload", "*.swp", ".DS_Store", "Thumbs.db")


def ignored(name: str) -> bool:
    """Temporary, hidden and lock files are never jobs."""
    return name.startswith(".") or any(fnmatch.fnmatch(name, p) for p in IGNORED)


class _Handler(FileSystemEventHandler):
    def __init__(self, notify: Callable[[Path], None]) -> None:
        self.notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        target = getattr(event, "dest_path", "") or event.src_path
        self.notify(Path(str(target)))


class StableFiles:
    """Tracks candidate files until they stop changing (pure; time is passed in)."""

    def __init__(self, stable_seconds: float) -> None:
        self.stable_seconds = stable_seconds
        self._seen: dict[Path, tuple[int, int, float]] = {}

    def touch(self, path: Path) -> None:
        self._seen.setdefault(path, (-1, -1, 0.0))

    def ready(self, now: float) -> list[Path]:
        """Paths unchanged for ``stable_seconds``; they are forgotten once returned."""
        out = []
        for path, (size, mtime, since) in list(self._seen.items()):
            try:
                st = path.stat()
            except FileNotFoundError:
                del self._seen[path]
                continue
            current = (st.st_size, st.st_mtime_ns)
            if current != (size, mtime):
                self._seen[path] = (*current, now)
            elif now - since >= self.stable_seconds:
                del self._seen[path]
                out.append(path)
        return out


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
        self._observer = Observer()

    def _notify(self, path: Path) -> None:
        if path.parent != self.inbox or ignored(path.name):
            return
        with self._lock:
            self.stable.touch(path)

    def scan(self) -> None:
        for path in sorted(self.inbox.iterdir()):
            if path.is_file():
                self._notify(path)

    def start(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        self._observer.schedule(_Handler(self._notify), str(self.inbox), recursive=False)
        self._observer.start()
        self.scan()

    def loop(self, interval: float = 0.25) -> None:
        last_scan = self.clock()
        while not self._stop.wait(interval):
            # A periodic rescan catches events a network folder never delivers.
            if self.clock() - last_scan > 30:
                self.scan()
                last_scan = self.clock()
            with self._lock:
                ready = self.stable.ready(self.clock())
            for path in ready:
                try:
                    self.submit(path)
                except Exception:
                    log.exception("could not take %s", path.name)

    def stop(self) -> None:
        self._stop.set()
        self._observer.stop()
        self._observer.join(timeout=5)
