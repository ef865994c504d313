"""Download, verify, decompress and merge a job's chunks, through disk.

Chunk n is fetched as soon as it exists (the client may still be uploading),
checked against the signed ``chunk_sha256`` before it is decompressed, and
written at its place in the merged file. Nothing of the file is held in
memory beyond one chunk per download thread.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from shared.aws import Backoff
from shared.chunks import decompress_into, sha256_hex
from shared.errors import FpwError, IntegrityError, TransientError
from shared.record import Job, chunk_key
from shared.store import Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


class UploadAbandoned(FpwError):
    """The client stopped uploading: the job can never complete."""


class _Sink:
    """The merged file, hashed as it is written (chunks arrive in order): one pass, no re-read."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.fh.write(data)


def fetch_chunk(
    s3: S3Client,
    job: Job,
    wait_seconds: float,
    retry_seconds: float,
    cancelled: threading.Event,
    n: int,
) -> bytes:
    """The stored bytes of chunk n, waiting up to ``wait_seconds`` for it to appear
    (looking again after ``retry_seconds``, then twice as long each time, up to 2 s)."""
    deadline = time.monotonic() + wait_seconds
    waits = Backoff(first=max(0.01, retry_seconds), cap=2.0)
    store = Store(s3)
    while True:
        try:
            stored = store.get(job.bucket, chunk_key(job.client, job.file, n))
        except FpwError as exc:
            raise TransientError(f"cannot read chunk {n}: {exc.message}", job=job.file) from exc
        if stored is not None:
            return stored
        if cancelled.is_set():
            raise FpwError("cancelled", job=job.file)
        if time.monotonic() > deadline:
            raise UploadAbandoned(
                f"chunk {n} of {job.chunks} never arrived within {wait_seconds:.0f} s;"
                " the client stopped uploading",
                job=job.file,
            )
        cancelled.wait(waits.next())


def merge(
    s3: S3Client,
    job: Job,
    target: Path,
    *,
    wait_seconds: float,
    concurrency: int,
    cancelled: threading.Event,
    retry_seconds: float = 0.2,
) -> None:
    """Fill ``target`` with the job's original bytes, verified chunk by chunk and as a whole.

    Chunks decompress to independent lengths, so each one's offset is known
    only once the previous ones are in; downloads run ahead in parallel while
    writes happen in order.
    """
    written = 0
    with target.open("wb") as fh, ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        sink = _Sink(fh)
        fetch = functools.partial(fetch_chunk, s3, job, wait_seconds, retry_seconds, cancelled)
        # At most ``window`` stored chunks are in memory at once, whatever the file size.
        window = max(1, concurrency) * 2
        pending = {n: pool.submit(fetch, n) for n in range(min(window, job.chunks))}
        try:
            for n in range(job.chunks):
                stored = pending.pop(n).result()
                if n + window < job.chunks:
                    pending[n + window] = pool.submit(fetch, n + window)
                if sha256_hex(stored) != job.chunk_sha256[n]:
                    raise IntegrityError(
                        f"chunk {n} does not match its signed SHA-256 (corrupt or tampered)",
                        job=job.file,
                    )
                written += decompress_into(
                    stored, job.compression, sink, job.size - written, job=job.file
                )
                del stored
        except BaseException:
            cancelled.set()  # downloads still waiting for chunks give up at once
            raise
    if written != job.size:
        raise IntegrityError(
            f"merged file has {written} bytes but the job declares {job.size}", job=job.file
        )
    if sink.digest.hexdigest() != job.sha256:
        raise IntegrityError("merged file does not match its signed SHA-256", job=job.file)
    log.debug("merged %s: %d bytes from %d chunks", job.file, written, job.chunks)
