"""Sending a staged drop: its job record first, then its chunks in parallel.

The record is created once (a second create of the same signed job, after a
crash between the put and noting it, is recognised as ours); each chunk
confirmed by S3 is noted in the state database, so an interrupted upload
sends only the chunks still missing. botocore's own retries are the only
ones: an upload that still fails is taken up again by the engine's next pass.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from client.state import State
from shared.errors import ClaimLost, FpwError, IntegrityError
from shared.record import Job, chunk_key
from shared.store import Store
from shared.table import JobTable

log = logging.getLogger(__name__)


class Paused(FpwError):
    """Sending is paused; the drop waits where it is and resumes on unpause."""

    recoverable = True


class Uploader:
    """Creates job records and puts chunks from the spool, ``concurrency`` at a time."""

    def __init__(
        self, table: JobTable, store: Store, state: State, spool: Path, concurrency: int
    ) -> None:
        self.table = table
        self.store = store
        self.state = state
        self.spool = spool
        self.paused = threading.Event()
        """Set while sending is paused: a chunk not yet started is not sent."""
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, concurrency), thread_name_prefix="fpw-upload"
        )

    def record(self, job: Job) -> None:
        """Create the job's record; one already there must be this very signed job."""
        try:
            self.table.create(job)
        except ClaimLost:
            # A crash after the put but before it was noted: the record is ours.
            existing = self.table.get(job.file)
            if existing is None or existing.signature != job.signature:
                raise IntegrityError("a different job already uses this id") from None

    def send_chunks(self, job: Job, progress: Callable[[float], None]) -> None:
        """Put every chunk not yet confirmed; ``progress`` gets the percent confirmed."""
        done = self.state.confirmed_chunks(job.file)
        todo = [n for n in range(job.chunks) if n not in done]
        futures = [self._pool.submit(self._put_chunk, job, n) for n in todo]
        confirmed = len(done)
        failure: BaseException | None = None
        for future in as_completed(futures):
            error = future.exception()
            if error is None:
                confirmed += 1
                progress(100.0 * confirmed / job.chunks)
            elif failure is None:
                failure = error
        if failure is not None:
            raise failure

    def discard(self, file_id: str) -> None:
        """Forget a drop's staged chunks and which of them were sent."""
        shutil.rmtree(self.spool / file_id, ignore_errors=True)
        self.state.forget_chunks(file_id)

    def _put_chunk(self, job: Job, n: int) -> None:
        if self.paused.is_set():
            raise Paused("paused", job=job.file)
        data = (self.spool / job.file / str(n)).read_bytes()
        self.store.put(job.bucket, chunk_key(job.client, job.file, n), data)
        self.state.confirm_chunk(job.file, n)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
