"""Room on local disks: how much is free, and a full disk as the project's error.

A part that runs out of space must say where and how much it needs, keep
what it was given, and go on once space is freed: ``DiskFullError`` is
recoverable, and ``room_for`` turns the operating system's ENOSPC (or a
quota's EDQUOT) into it at the edge where the writing happens.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from shared.errors import DiskFullError

FULL = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(directory: Path) -> int:
    """Bytes free for this user on the filesystem of ``directory`` (or its nearest
    existing parent, for a folder not made yet)."""
    where = directory
    while not where.exists() and where != where.parent:
        where = where.parent
    return shutil.disk_usage(where).free


def size_text(count: int) -> str:
    """A size as people read it: 512 bytes, 3.2 MiB, 1.5 GiB."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def disk_full(
    directory: Path, needed: int, what: str, *, job: str | None = None, setting: str | None = None
) -> DiskFullError:
    """The error for ``what`` not fitting in ``directory``: where, how much, what to do."""
    free = free_bytes(directory)
    elsewhere = f", or set {setting} to a larger disk" if setting else ""
    return DiskFullError(
        f"no space left in {directory} for {what}: needs up to {size_text(needed)},"
        f" {size_text(free)} free",
        job=job,
        directory=directory,
        needed=needed,
        free=free,
        hint=f"free some space there{elsewhere}; it goes on by itself once there is room",
    )


@contextlib.contextmanager
def room_for(
    directory: Path,
    needed: int,
    what: str,
    *,
    job: str | None = None,
    setting: str | None = None,
    undo: Callable[[], object] | None = None,
) -> Iterator[None]:
    """Run the block; a full disk inside it becomes ``DiskFullError``, after ``undo``
    has removed what the block half-wrote (so the error tells the room really free)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in FULL:
            raise
        if undo is not None:
            undo()
        raise disk_full(directory, needed, what, job=job, setting=setting) from exc
