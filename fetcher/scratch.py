"""The fetcher's scratch files: merged files named after the run that wrote
them, and removed by a later run once that one is gone.

A fetcher killed mid-job (out of memory, SIGKILL, a power cut) cannot delete
the merged file it was writing, and a merged file can be as large as the
biggest job: left there, a few crashes fill the disk. Each run holds an
exclusive lock (``flock``) on a lock file of its own in the folder for as long
as it lives; the kernel drops the lock when the process dies, however it
dies. At start, a run takes over the lock of every run that is gone and
removes that run's files. Fetchers sharing a folder (on one host, or on a
volume shared with the processor) never touch each other's files.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
DATA_SUFFIX = ".data"


class Scratch:
    """The merged files of one fetcher run, in ``folder``."""

    def __init__(self, folder: Path, owner: str) -> None:
        self.folder = folder
        self.owner = owner
        self._lock_fd: int | None = None

    def path(self, file_id: str) -> Path:
        """Where this run merges ``file_id``: a plain name, as the processor needs."""
        return self.folder / f"{file_id}.{self.owner}{DATA_SUFFIX}"

    def _lock_path(self, owner: str) -> Path:
        return self.folder / f".{owner}{LOCK_SUFFIX}"

    def open(self) -> list[Path]:
        """Hold this run's lock, then remove what runs that are gone left; returns those files.

        Once per run: later calls do nothing.
        """
        if self._lock_fd is not None:
            return []
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path(self.owner), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            raise
        self._lock_fd = fd
        removed: list[Path] = []
        for lock in self.folder.glob(f".*{LOCK_SUFFIX}"):
            owner = lock.name[1 : -len(LOCK_SUFFIX)]
            if owner != self.owner:
                removed.extend(self._take_over(lock, owner))
        if removed:
            log.info("removed %d merged file(s) left by fetchers that died", len(removed))
        return removed

    def _take_over(self, lock: Path, owner: str) -> list[Path]:
        """Remove a gone run's files: only if its lock is free (its process is dead)."""
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            return []  # another run took it over just now
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []  # that run is alive
            removed = list(self.folder.glob(f"*.{owner}{DATA_SUFFIX}"))
            for left in removed:
                left.unlink(missing_ok=True)
            lock.unlink(missing_ok=True)
            return removed
        finally:
            os.close(fd)

    def close(self) -> None:
        """Release the lock (the run's files are gone by then: each job removes its own)."""
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            self._lock_path(self.owner).unlink(missing_ok=True)
        os.close(self._lock_fd)
        self._lock_fd = None
