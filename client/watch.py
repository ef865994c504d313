"""Watching a folder: filter events, wait until files are quiet, submit.

The watchdog handler only filters and queues paths; a single loop decides
when a file is complete and hands it to the engine: same size and mtime for
``stable_seconds`` (a writer closing the file between bursts does not end the
wait), or, where the system reports it (inotify on Linux), for
``moved_settle_seconds`` (``CLOSED_SETTLE_SECONDS`` by default) after it was
moved in whole (a rename: its content is final). Files already in the folder
at start are treated as just dropped. The loop sleeps until an event while
nothing is pending.

Folders inside the watched folder are watched too (their files become jobs),
except the agent's own ``done/``, ``failed/`` and results folders. Only
regular files are taken: symbolic links (to files or folders) are never
followed, and they, like pipes, sockets and devices, are reported once as
skipped and left where they are.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_MOVED,
    EVENT_TYPE_OPENED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from client.staging import regular
from shared.errors import FpwError

log = logging.getLogger(__name__)

IGNORED = (
    "~$*",
    ".~lock*",
    "*.part",
    "*.partial",
    "*.tmp",
    "*.crdownload",
    "*.crswap",
    "*.download",
    "*.swp",
    "*~",
    "#*#",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
)
# A file moved in whole is complete unless it changes again: this pause only
# absorbs a tool that renames it and touches it at once (one that touches it
# later gets a second job for the final content, the first being superseded).
CLOSED_SETTLE_SECONDS = 0.1
# Events that say nothing about content (the engine's own reads among them).
READ_EVENTS = (EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE)
# Only a rename says the content is final: an appender closes the file between
# bursts, so a close is only one more change.
WRITTEN_EVENTS = (EVENT_TYPE_MOVED,)
# A periodic rescan catches events a network folder never delivers.
RESCAN_SECONDS = 30.0


def ignored(name: str) -> bool:
    """Temporary, hidden and lock files are never jobs."""
    return name.startswith(".") or any(fnmatch.fnmatch(name, p) for p in IGNORED)


class _Handler(FileSystemEventHandler):
    def __init__(self, notify: Callable[[Path, bool], None]) -> None:
        self.notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in READ_EVENTS:
            return
        target = getattr(event, "dest_path", "") or event.src_path
        self.notify(Path(os.fsdecode(target)), event.event_type in WRITTEN_EVENTS)


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
                st = os.lstat(path)  # a link is never followed (and never ready)
            except FileNotFoundError:
                self._forget(path)
                continue
            if not stat.S_ISREG(st.st_mode):
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
        excluded: Iterable[Path] = (),
        moved_settle_seconds: float = CLOSED_SETTLE_SECONDS,
    ) -> None:
        self.inbox = inbox
        self.submit = submit
        self.clock = clock
        self.excluded = [Path(p) for p in excluded]
        """Folders inside the watched one that are the agent's own (done, failed, results)."""
        self.stable = StableFiles(stable_seconds, moved_settle_seconds)
        self._skipped: set[Path] = set()
        self._refused: dict[Path, str] = {}
        """The last reason each file was not taken for (said once)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._observer = _observer()

    def watched(self, path: Path) -> bool:
        """Whether ``path`` is inside the folder, outside the agent's own folders,
        and neither it nor a folder above it (inside the watched one) is ignored."""
        if path == self.inbox or not path.is_relative_to(self.inbox):
            return False
        if path.parent != self.inbox and path.parent.resolve() != path.parent:
            return False  # reached through a linked folder: not in the folder at all
        if any(path == e or path.is_relative_to(e) for e in self.excluded):
            return False
        return not any(ignored(part) for part in path.relative_to(self.inbox).parts)

    def _notify(self, path: Path, written: bool | None = None) -> None:
        if not self.watched(path):
            return
        kind = regular(path)
        if kind is None:
            return
        if not kind:
            if path.is_dir() and not path.is_symlink():
                self._scan(path)  # a folder dropped or moved in: take its files
            else:
                self._skip(path)
            return
        with self._lock:
            self.stable.touch(path, written)
        self._wake.set()

    def _skip(self, path: Path) -> None:
        """Say once (per run) that something in the folder is not taken, and why."""
        if path in self._skipped:
            return
        self._skipped.add(path)
        what = "a symbolic link" if path.is_symlink() else "not a regular file"
        log.warning("skipped %s: %s; links are not followed and it stays as it is", path, what)

    def scan(self) -> None:
        self._scan(self.inbox)

    def _scan(self, folder: Path) -> None:
        """Note every file under ``folder`` (never through a link)."""
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror or exc)
            return
        for entry in entries:
            path = Path(entry.path)
            if not self.watched(path):
                continue
            try:
                if entry.is_symlink():
                    self._skip(path)
                elif entry.is_dir(follow_symlinks=False):
                    self._scan(path)
                elif entry.is_file(follow_symlinks=False):
                    with self._lock:
                        self.stable.touch(path)
                    self._wake.set()
                else:
                    self._skip(path)
            except OSError:
                continue  # gone meanwhile

    def start(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        # Recursive: folders dropped in are taken too, and an original moving
        # to done/ is one paired event (unpaired, watchdog holds every later
        # event back half a second to look for its other half).
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
                    self._refused.pop(path, None)
                except (FpwError, OSError) as exc:
                    # It stays in the folder and is tried again at the next rescan;
                    # the same reason is said once, not every rescan.
                    reason = str(exc)
                    level = logging.DEBUG if self._refused.get(path) == reason else logging.WARNING
                    self._refused[path] = reason
                    log.log(level, "could not take %s yet: %s", path.name, reason)
                except Exception:
                    log.exception("could not take %s", path.name)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._observer.stop()
        self._observer.join(timeout=5)
