"""Turn a file into compressed chunks in a spool folder, and describe them.

The chunks are spooled to disk before the job is created because the
signature covers the hash of every stored chunk; the spool is also what makes
uploads resumable after a crash. Only one chunk is in memory at a time.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared import __version__, chunks
from shared.disk import room_for
from shared.errors import FpwError
from shared.record import Job, iso, queue_rank, queue_shard, utc_now

# Content types the reference processor knows by name; others fall back to
# Python's table, then to octet-stream (the processor sniffs those).
EXTRA_TYPES = {".md": "text/markdown", ".csv": "text/csv", ".log": "text/plain"}


class FileChanged(FpwError):
    """The file changed while it was read: it is still being written."""

    recoverable = True


@dataclass(frozen=True)
class Staged:
    size: int
    sha256: str
    chunk_sha256: list[str]
    compression: str
    content_type: str

    def job(
        self,
        file_id: str,
        client: str,
        bucket: str,
        queue_shards: int,
        backlog: int,
        params: dict[str, Any],
        version: str = __version__,
    ) -> Job:
        """The unsigned record of a job for these chunks.

        ``backlog`` is the job's place in its client's own backlog (unfinished
        drops taken before it); with the creation time it makes the rank that
        orders the queue index, so fetchers serve clients round-robin.
        """
        created = iso(utc_now())
        return Job(
            file=file_id,
            client=client,
            version=version,
            created=created,
            bucket=bucket,
            chunks=len(self.chunk_sha256),
            params=params,
            queue=queue_shard(file_id, queue_shards),
            rank=queue_rank(backlog, created),
            **asdict(self),  # size, hashes, compression, content type: by the same names
        )


def content_type_of(name: str) -> str:
    extra = EXTRA_TYPES.get(Path(name).suffix.lower())
    return extra or mimetypes.guess_type(name)[0] or "application/octet-stream"


def fingerprint(path: Path) -> str:
    """What makes a drop the same drop: path, size, mtime and inode (of the name
    itself: a link is not followed)."""
    st = os.lstat(path)
    return f"{path.parent.resolve() / path.name}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def regular(path: Path) -> bool | None:
    """True for a regular file, False for anything else (link, folder, pipe...),
    None when nothing is there. Links are never followed."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return None


def open_regular(path: Path) -> int:
    """A descriptor for reading ``path``, refused unless it is a regular file itself:
    never through a link (swapped in since the file was checked), never a pipe
    (which would block)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise FpwError(f"{path.name} is a symbolic link; links are not followed") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FpwError(f"{path.name} is not a regular file")
    return fd


def stage(path: Path, spool: Path, chunk_size: int, level: int) -> Staged:
    """Write ``spool/<n>`` for every chunk; raise ``FileChanged`` if the file moved under us."""
    if spool.exists():
        shutil.rmtree(spool)
    spool.mkdir(parents=True)
    fd = open_regular(path)
    before = os.fstat(fd)
    whole = hashlib.sha256()
    hashes: list[str] = []
    size = 0
    compression: str | None = None
    with os.fdopen(fd, "rb") as source:
        n = 0
        while True:
            data = source.read(chunk_size)
            if not data and n > 0:
                break
            if compression is None:
                compression = chunks.choose_compression(data[: 1024 * 1024])
            whole.update(data)
            size += len(data)
            stored = chunks.compress_chunk(data, compression, level)
            hashes.append(chunks.sha256_hex(stored))
            tmp = spool / f"{n}.tmp"
            tmp.write_bytes(stored)
            tmp.replace(spool / str(n))
            n += 1
            if len(data) < chunk_size:
                break
        after = os.fstat(source.fileno())
        now = os.lstat(path)
    if (
        (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns)
        or size != after.st_size
        or (now.st_ino, now.st_dev) != (after.st_ino, after.st_dev)  # replaced by a rename
    ):
        shutil.rmtree(spool, ignore_errors=True)
        raise FileChanged(f"{path.name} changed while it was read; it will be taken again")
    assert compression is not None
    return Staged(
        size=size,
        sha256=whole.hexdigest(),
        chunk_sha256=hashes,
        compression=compression,
        content_type=content_type_of(path.name),
    )


def stage_in(spool: Path, path: Path, file_id: str, chunk_size: int, level: int) -> Staged:
    """Stage ``path`` into ``spool/<file_id>``; a full disk leaves no half-staged chunks."""
    folder = spool / file_id
    with room_for(
        spool,
        path.stat().st_size,  # zstd never stores much more than the input
        f"the chunks of {path.name}",
        job=file_id,
        setting="client.state_dir",
        undo=lambda: shutil.rmtree(folder, ignore_errors=True),
    ):
        return stage(path, folder, chunk_size, level)
