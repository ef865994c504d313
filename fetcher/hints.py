"""Stream hints: while this process holds a reader lease, new jobs arrive within
``fetcher.stream_poll_seconds`` (and the read's own time), or within
``fetcher.stream_fast_poll_seconds`` while the stream is busy.

Hints are bounded (a small queue; overflow is dropped) and never trusted: the
fetcher still claims with the usual condition, and the queue index remains
the truth, so a lost hint costs only latency.
"""

from __future__ import annotations

import collections
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.config
from botocore.exceptions import BotoCoreError, ClientError

from fetcher.lease import StreamLease
from fetcher.stream import Hint, StreamReader

if TYPE_CHECKING:
    from shared.aws import Aws
    from shared.config import FetcherSettings
    from shared.table import JobTable

log = logging.getLogger(__name__)

HINT_CAPACITY = 1000


def stream_pause(now: float, last_records: float, slow: float, fast: float, busy: float) -> float:
    """Seconds to the next stream read: ``fast`` while the stream had records in the last
    ``busy`` seconds (at ``last_records``), ``slow`` otherwise (pure).

    A job's life writes several records (created, claimed, finished, heartbeats), so
    the stream is busy exactly while the fleet is in use, when a hint's delay is
    the user's wait; an idle stream is read at the slow pace, at the old cost.
    ``fast`` 0 (or not below ``slow``) is off.
    """
    if fast <= 0 or fast >= slow:
        return slow
    return fast if now - last_records < busy else slow


def lease_bound_streams(aws: Aws, lease_seconds: float) -> Any:
    """A Streams client whose every call ends within the lease's safety margin.

    A holder stops *starting* reads a third of the lease before it ends; with
    one try and timeouts of an eighth of the lease each, a read in progress also
    ends before then, so no read outlives the lease and a new holder never
    overlaps the old one.
    """
    bound = max(0.5, lease_seconds / 8)
    return aws.client(
        "dynamodbstreams",
        botocore.config.Config(
            connect_timeout=bound,
            read_timeout=bound,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )


class StreamHints:
    """Takes a lease when one is free and, while it holds it, turns stream records into hints."""

    def __init__(
        self,
        lease: StreamLease,
        streams: Any,
        stream_arn: str,
        *,
        poll_seconds: float,
        fast_poll_seconds: float = 0.0,
        busy_seconds: float = 0.0,
        describe_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lease = lease
        self.streams = streams
        self.stream_arn = stream_arn
        self.poll_seconds = poll_seconds
        self.fast_poll_seconds = fast_poll_seconds
        self.busy_seconds = busy_seconds
        self.describe_seconds = describe_seconds
        self.clock = clock
        self.last_records = float("-inf")
        """When (by ``clock``) a read last found records."""
        self.hints: queue.Queue[Hint] = queue.Queue(maxsize=HINT_CAPACITY)
        self.reads: collections.deque[tuple[float, float]] = collections.deque(maxlen=10_000)
        """(start, end) of each stream read, by ``clock``: evidence of reader counts."""
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stream-hints", daemon=True)
        self._thread.start()

    def stop(self, give_back: bool = True) -> None:
        """Stop reading; ``give_back=False`` simulates a crash (the lease then expires)."""
        self._release_lease = give_back
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    _release_lease = True

    def _run(self) -> None:
        reader: StreamReader | None = None
        renew_at = 0.0
        try:
            while not self.stopping.is_set():
                if not self.lease.valid():
                    reader = None
                    if not self.lease.try_take():
                        # Jitter keeps waiting processes from racing at each expiry.
                        self.stopping.wait(self.lease.seconds / 2 * random.uniform(0.5, 1.0))
                        continue
                    # A takeover without checkpoints (the last holder died before
                    # saving any) reads from the oldest record, so nothing is lost.
                    start = "LATEST" if self.lease.first_holder else "TRIM_HORIZON"
                    reader = StreamReader(
                        self.streams,
                        self.stream_arn,
                        self.lease.checkpoints,
                        fresh_start=start,
                        describe_seconds=self.describe_seconds,
                    )
                    renew_at = self.clock() + self.lease.seconds / 3
                assert reader is not None
                if self.clock() >= renew_at:
                    self.lease.checkpoints = reader.checkpoints
                    self.lease.renew()
                    renew_at = self.clock() + self.lease.seconds / 3
                    continue  # re-check validity after renewing
                self._read(reader)
                self.stopping.wait(self.pause())
        finally:
            if self._release_lease:
                if reader is not None:
                    self.lease.checkpoints = reader.checkpoints
                self.lease.give_back()

    def pause(self) -> float:
        """Seconds until the next read (see ``stream_pause``)."""
        return stream_pause(
            self.clock(),
            self.last_records,
            self.poll_seconds,
            self.fast_poll_seconds,
            self.busy_seconds,
        )

    def _read(self, reader: StreamReader) -> None:
        started = self.clock()
        records = reader.records
        try:
            found = reader.poll(still_valid=self.lease.valid)
            if reader.records > records:
                self.last_records = self.clock()
        except (BotoCoreError, ClientError) as exc:
            log.warning("cannot read the job stream, relying on the queue index: %s", exc)
            self.stopping.wait(self.poll_seconds * 5)
            return
        finally:
            self.reads.append((started, self.clock()))
        for hint in found:
            try:
                self.hints.put_nowait(hint)
            except queue.Full:
                break  # the index will surface the rest

    def next(self, timeout: float) -> Hint | None:
        """The next hint, waiting up to ``timeout`` seconds."""
        try:
            return self.hints.get(timeout=timeout)
        except queue.Empty:
            return None


def start_hints(
    aws: Aws, table: JobTable, holder: str, fs: FetcherSettings, clock: Callable[[], float]
) -> StreamHints | None:
    """Read the stream when a lease slot is free; without one, the index is enough."""
    if fs.stream_readers <= 0:
        return None
    try:
        arn = aws.stream_arn()
    except (BotoCoreError, ClientError) as exc:
        log.warning("cannot find the job stream, using the queue index only: %s", exc)
        return None
    if not arn:
        log.warning("the jobs table has no stream; using the queue index only")
        return None
    lease = StreamLease(
        table, holder, slots=fs.stream_readers, seconds=fs.lease_seconds, clock=clock
    )
    hints = StreamHints(
        lease,
        lease_bound_streams(aws, fs.lease_seconds),
        arn,
        poll_seconds=fs.stream_poll_seconds,
        fast_poll_seconds=fs.stream_fast_poll_seconds,
        busy_seconds=fs.stream_busy_seconds,
        describe_seconds=fs.stream_describe_seconds,
        clock=clock,
    )
    hints.start()
    return hints
