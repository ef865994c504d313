"""A discrete-event model of the fleet as the code behaves (pure; no I/O, no AWS).

Fetchers, desktops and the watcher are generators that yield what they wait
for (a pause, an AWS request, a stream hint); the loop resumes them in time
order. The fetcher's loop follows ``fetcher.worker.Fetcher.run`` and
``fetcher.claims.Claimer.next``: it reads
every queue-index shard when its last read is used up or older than
``fetcher.poll_seconds``, tries the candidates one at a time (a projected
GetItem, then the conditional claim), and when it found nothing waits a
jittered ``poll_seconds``; the one fetcher holding the stream lease waits for
a hint instead and claims it. Settings come from ``shared.config`` defaults.

Every request is metered per second and per partition key (table, each
index, S3 prefix) in the units AWS bills, so the report can put each key's
busiest second against AWS's limits (``bench.scale.aws``). The model does not
throttle: where demand crosses a limit it says so, and AWS would throttle.
Same seed, same figures.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections import defaultdict, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from bench.scale import aws
from client.results import poll_interval
from fetcher.polling import claim_spread, give_up_after
from shared.config import Settings

# What processes yield: ("wait", seconds), ("call", Request), ("hint", timeout).
Command = tuple[str, Any]
Process = Generator[Command, Any, None]


@dataclass(frozen=True)
class Backend:
    """How requests are served."""

    name: str
    dynamodb_seconds: float
    """Time of one DynamoDB request (AWS: fixed; local: the shared server's work)."""
    s3_seconds: float
    """Time of one small S3 request (first byte)."""
    s3_bytes_per_second: float
    index_lag_seconds: float
    """How long a table write takes to show in an index."""
    shared_server: bool
    """True for the local stack: one process serves every request in turn."""
    fetcher_cpu_seconds: float = 0.0
    """The fetcher's own work per job (verify, merge, seal), outside AWS."""
    request_seconds: float = 0.0
    """Each request's time outside the shared server (SDK, proxy, loopback)."""


AWS = Backend(
    "aws",
    dynamodb_seconds=aws.DDB_LATENCY.value,
    s3_seconds=aws.S3_FIRST_BYTE.value,
    s3_bytes_per_second=aws.S3_BANDWIDTH.value,
    index_lag_seconds=aws.INDEX_LAG.value,
    shared_server=False,
    fetcher_cpu_seconds=0.02,
)
# The local stack of docs/benchmarks.md: moto in one Python process on two
# shared cores. Calibrated: 0.069 CPU s per job over 7.7 requests (benchmark
# 4), and 520 jobs/min with one fetcher leaves 0.044 s of fetcher work.
LOCAL = Backend(
    "local",
    dynamodb_seconds=0.009,
    s3_seconds=0.009,
    s3_bytes_per_second=200e6,
    index_lag_seconds=0.0,
    shared_server=True,
    fetcher_cpu_seconds=0.044,
)


@dataclass(frozen=True)
class Design:
    """The fleet's settings and the design choices the model compares."""

    queue_shards: int
    poll_seconds: float
    heartbeat_seconds: float
    stream_readers: int
    stream_poll_seconds: float
    lease_seconds: float
    download_concurrency: int
    client_poll_seconds: float
    chunk_bytes: int
    sweep_seconds: float
    retention_seconds: float
    claim_spread: int
    """Candidates a fetcher picks among (0: as many as ``claim_spread_for`` gives the fleet)."""
    idle_backoff: float
    """Longest idle pause as a multiple of ``poll_seconds`` (1: no backoff, as shipped):
    each read that finds nothing doubles the pause up to it. Modelled, not adopted."""
    stale_limit: int = 0
    """Taken candidates in a row after which a fetcher drops the rest of its read
    (0: it tries every one, as before)."""
    client_index_narrow: bool = True
    """client-index projects only what desktops read (status, progress), as
    infra/template.yaml does, instead of ALL (before)."""
    sweep_indexed: bool = True
    """The watcher reads the queue index and ``sweep-index`` (jobs from their claim
    until retired, ``RETIRE_SECONDS`` after they finished), not the whole table
    (before), except once every ``full_sweep_seconds``."""
    full_sweep_seconds: float = 86400.0
    name: str = "shipped"

    @classmethod
    def shipped(cls) -> Design:
        s = Settings()
        return cls(
            queue_shards=s.aws.queue_shards,
            poll_seconds=s.fetcher.poll_seconds,
            heartbeat_seconds=s.fetcher.heartbeat_seconds,
            stream_readers=s.fetcher.stream_readers,
            stream_poll_seconds=s.fetcher.stream_poll_seconds,
            lease_seconds=s.fetcher.lease_seconds,
            download_concurrency=s.fetcher.download_concurrency,
            client_poll_seconds=s.client.poll_seconds,
            chunk_bytes=s.client.chunk_size,
            sweep_seconds=s.watcher.interval_seconds,
            retention_seconds=s.fetcher.result_retention_seconds,
            claim_spread=s.fetcher.claim_spread,
            stale_limit=s.fetcher.claim_misses,
            idle_backoff=1.0,
            full_sweep_seconds=s.watcher.full_sweep_seconds,
        )

    def but(self, **changes: Any) -> Design:
        return replace(self, **changes)


WRITE_BLOCK = aws.WRITE_BLOCK.value
READ_BLOCK = aws.READ_BLOCK.value

# What an event of the loop does (Model._at).
STEP, CALL, EFFECT = 0, 1, 2

# Item sizes (bytes), calibrated on the cost benchmark's records (1,176 B for a
# finished one-chunk job, 1,958 B with 13 chunks; 14.1 write units a job).
RECORD_BASE = 830
RECORD_PER_CHUNK = 70
GROWS_AT_CLAIM = 90
GROWS_AT_DOWNLOAD = 25
QUEUE_INDEX_ITEM = 260
SWEEP_INDEX_ITEM = 60
"""A ``sweep-index`` entry: the file id and the shard (keys only)."""
RETIRE_SECONDS = 300.0
"""watcher.decisions.RETIRE_AFTER."""
NARROW_CLIENT_INDEX_ITEM = 190
PRESENCE_ITEM = 300
LEASE_ITEM = 400
ACTIVE_GAP_SECONDS = 0.0


@dataclass(frozen=True)
class Workload:
    """What arrives: a mean rate, its shape, and the jobs' sizes."""

    rate: float
    """Jobs per second, on average."""
    shape: str = "steady"
    """steady (Poisson), bursts (five times the rate for 12 s of each minute), drop
    (one desktop's ``drop_files`` on top of the steady rate) or paced (one job every
    1/rate s, from one desktop)."""
    clients: int = 1000
    file_bytes: int = 1024 * 1024
    stored_ratio: float = 0.25
    """Stored (compressed) bytes per input byte (the cost benchmark's text: 0.25)."""
    processing_seconds: float = 5.0
    """Mean time in the processor (exponential)."""
    result_bytes: int = 300
    drop_files: int = 10_000
    desktop_jobs_per_second: float = 30.0
    """How fast one desktop creates jobs (benchmark 3: prepare + upload about 31 ms at 100 KB)."""
    backlog: int = 0
    """Jobs already queued, chunks uploaded, at time 0 (the throughput benchmark)."""


@dataclass
class Job:
    id: int
    client: int
    created: float
    shard: int
    rank: tuple[int, float, int]
    chunks: int
    size: int
    status: str = "queued"
    processor: int = -1
    ready: float = 0.0
    completed: float = -1.0
    claimed: float = -1.0


@dataclass
class Meter:
    """Units and requests per second per (resource, key)."""

    usage: dict[tuple[str, str], dict[int, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    requests: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    units: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    largest_item: float = 0.0

    def add(self, at: float, resource: str, key: str, amount: float) -> None:
        self.usage[(resource, key)][int(at)] += amount

    def count(self, what: str, n: float = 1.0) -> None:
        self.requests[what] += n


@dataclass
class Outcome:
    """What one run found; figures are per the measured window."""

    arrived: int
    completed: int
    queued: int
    processing: int
    failed_claims: int
    stale_picks: int
    seconds: float
    meter: Meter
    latencies: list[float]
    fetchers: int
    busy_seconds: float
    done_at: list[float] = field(default_factory=list)
    """When each job completed."""

    def sustained(self, since: float) -> float:
        """Jobs completed per second from ``since`` to the end."""
        span = self.seconds - since
        return sum(1 for t in self.done_at if t >= since) / span if span > 0 else 0.0

    @property
    def conserved(self) -> bool:
        return self.arrived == self.completed + self.queued + self.processing


class Model:
    def __init__(
        self,
        fetchers: int,
        workload: Workload,
        design: Design,
        backend: Backend = AWS,
        seed: int = 1,
        seconds: float = 120.0,
    ) -> None:
        self.n = fetchers
        self.w = workload
        self.d = design
        self.b = backend
        self.rng = random.Random(seed)
        self.horizon = seconds
        self.now = 0.0
        self._heap: list[tuple[float, int, int, Any, Any]] = []
        self._seq = 0
        self.server_free = 0.0
        self.meter = Meter()
        self.jobs: dict[int, Job] = {}
        self.index: list[list[tuple[tuple[int, float, int], int]]] = [
            [] for _ in range(design.queue_shards)
        ]
        self.client_backlog: dict[int, int] = defaultdict(int)
        self.client_jobs: dict[int, deque[Job]] = defaultdict(deque)
        self.client_ready: dict[int, list[Job]] = defaultdict(list)
        self.client_pending: dict[int, set[int]] = defaultdict(set)
        self.client_waiting: dict[int, bool] = {}
        self.receipts: deque[int] = deque()
        self.hints: deque[int] = deque()
        self.hint_waiter: tuple[Process, int] | None = None
        self.hint_token = 0
        self.failed_claims = 0
        self.completed = 0
        self.done_at: list[float] = []
        self.stale_picks = 0
        self.latencies: list[float] = []
        self.busy_seconds = 0.0
        self.arrived = 0
        self.spread = claim_spread(fetchers, design.claim_spread)  # fleet_size = fetchers
        self._next_id = 0
        self._stream_new: list[int] = []

    # -- the event loop -------------------------------------------------------

    def _at(self, t: float, proc: Any, value: Any = None, kind: int = STEP) -> None:
        """Schedule ``proc``: a process to resume with ``value`` (STEP), a function to
        call (CALL), or a process to resume with what ``value()`` returns (EFFECT)."""
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, proc, value))

    def start(self, proc: Process, at: float = 0.0) -> None:
        self._at(at, proc)

    def run(self) -> Outcome:
        for f in range(self.n):
            self.start(self.fetcher(f), at=self.rng.uniform(0, 0.05) if self.w.backlog else 0.0)
        if self.d.stream_readers > 0 and self.n > 0:
            self.start(self.stream_reader())
        self.start(self.arrivals())
        self.start(self.watcher(), at=self.rng.uniform(0, self.d.sweep_seconds))
        for _ in range(self.w.backlog):
            self._create(self._new_job(self.rng.randrange(self.w.clients), 0.0), ready=0.0)
        self._stream_new.clear()  # made before any reader started: no hints
        heap, pop, step = self._heap, heapq.heappop, self._step
        while heap:
            t, _, kind, proc, value = pop(heap)
            if t > self.horizon:
                break
            self.now = t
            if kind == STEP:
                step(proc, value)
            elif kind == EFFECT:
                step(proc, value())
            else:
                proc()
        self._idle_overheads()
        return self._outcome()

    def _step(self, proc: Process, value: Any) -> None:
        try:
            kind, arg = proc.send(value)
        except StopIteration:
            return
        if kind == "wait":
            self._at(self.now + arg, proc)
        elif kind == "call":
            done, effect = arg
            self._at(self._finish(done), proc, effect, EFFECT)
        elif kind == "hint":
            if self.hints:
                self._at(self.now, proc, self.hints.popleft())
            else:
                self.hint_token += 1
                token = self.hint_token
                self.hint_waiter = (proc, token)
                self._at(self.now + arg, partial(self._hint_timeout, token), kind=CALL)

    def _hint_timeout(self, token: int) -> None:
        if self.hint_waiter is not None and self.hint_waiter[1] == token:
            proc, _ = self.hint_waiter
            self.hint_waiter = None
            self._step(proc, None)

    def _push_hint(self, job_id: int) -> None:
        if self.hint_waiter is not None:
            proc, _ = self.hint_waiter
            self.hint_waiter = None
            self._at(self.now, proc, job_id)
        elif len(self.hints) < 1000:  # fetcher.hints.HINT_CAPACITY
            self.hints.append(job_id)

    def _finish(self, seconds: float) -> float:
        """When a request sent now is answered (queued behind others on the local stack)."""
        if not self.b.shared_server:
            return self.now + seconds
        start = max(self.now + self.b.request_seconds / 2, self.server_free)
        self.server_free = start + seconds
        return self.server_free + self.b.request_seconds / 2

    # -- requests: metered as AWS bills them ------------------------------------

    def _ddb(self, op: str, effect: Callable[[], Any]) -> Command:
        self.meter.count(op)
        return ("call", (self.b.dynamodb_seconds, effect))

    def _s3(self, op: str, nbytes: int = 0) -> Command:
        self.meter.count(op)
        return ("call", (self.b.s3_seconds + nbytes / self.b.s3_bytes_per_second, lambda: None))

    def _write(self, resource: str, key: str, nbytes: float) -> None:
        units = max(1, math.ceil(nbytes / WRITE_BLOCK))
        meter = self.meter
        meter.usage["wcu:" + resource, key][int(self.now)] += units
        meter.units["write"] += units
        if resource == "table" and nbytes > meter.largest_item:
            meter.largest_item = nbytes

    def _read(self, resource: str, key: str, nbytes: float, consistent: bool = False) -> None:
        blocks = max(1, math.ceil(nbytes / READ_BLOCK))
        units = blocks if consistent else blocks / 2
        meter = self.meter
        meter.usage["rcu:" + resource, key][int(self.now)] += units
        meter.units["read"] += units

    def _job_write(self, job: Job, nbytes: float, projected: bool, queue: bool) -> None:
        """One write of a job record, with its index copies."""
        self._write("table", "job", nbytes)
        if self.d.client_index_narrow:
            if projected:
                self._write("client-index", f"c{job.client}", NARROW_CLIENT_INDEX_ITEM)
        else:
            self._write("client-index", f"c{job.client}", nbytes)
        if queue:
            self._write("queue-index", f"q{job.shard}", QUEUE_INDEX_ITEM)
        self.meter.count("stream record")
        self.meter.add(self.now, "stream", "records", 1)

    def _size(self, job: Job, stage: str) -> float:
        size = RECORD_BASE + RECORD_PER_CHUNK * job.chunks
        if stage in ("claimed", "downloaded", "completed", "delivered"):
            size += GROWS_AT_CLAIM
        if stage in ("downloaded", "completed"):
            size += GROWS_AT_DOWNLOAD
        if stage == "completed":
            size += self.w.result_bytes
        return size

    # -- jobs and the queue index -------------------------------------------------

    def _new_job(self, client: int, at: float) -> Job:
        self._next_id += 1
        stored = max(1, round(self.w.file_bytes * self.w.stored_ratio))
        chunks = max(1, math.ceil(self.w.file_bytes / self.d.chunk_bytes))
        backlog = self.client_backlog[client]
        job = Job(
            self._next_id,
            client,
            at,
            self.rng.randrange(self.d.queue_shards),
            (backlog, at, self._next_id),
            chunks,
            stored,
        )
        return job

    def _create(self, job: Job, ready: float) -> None:
        self.arrived += 1
        self.jobs[job.id] = job
        job.ready = ready
        self.client_backlog[job.client] += 1
        self.client_jobs[job.client].append(job)
        self.client_pending[job.client].add(job.id)
        self.meter.count("PutItem")
        self._job_write(job, self._size(job, "created"), projected=True, queue=True)
        self._at(self.now + self.b.index_lag_seconds, partial(self._index_add, job), kind=CALL)
        if self.n and self.d.stream_readers > 0:
            self._stream_new.append(job.id)
        if not self.client_waiting.get(job.client):
            self.client_waiting[job.client] = True
            # The engine polls as soon as an upload ends (a wake), then every spacing.
            self.start(self.desktop_poll(job.client), at=self.now + self.b.dynamodb_seconds)

    def _index_add(self, job: Job) -> None:
        if job.status == "queued":
            bisect.insort(self.index[job.shard], (job.rank, job.id))

    def _index_remove(self, job: Job) -> None:
        entries = self.index[job.shard]
        i = bisect.bisect_left(entries, (job.rank, job.id))
        if i < len(entries) and entries[i][1] == job.id:
            del entries[i]

    # -- the fetcher (fetcher.worker.Fetcher.run, fetcher.claims.Claimer.next) --

    def fetcher(self, me: int) -> Process:
        backlog: list[int] = []
        read_at = -math.inf
        announced = -math.inf
        holder = me == 0 and self.d.stream_readers > 0
        empty_polls = 0
        while True:
            if self.now - announced >= 15.0:  # shared.presence.EVERY_SECONDS
                announced = self.now
                yield self._ddb(
                    "UpdateItem presence", lambda: self._write("table", "presence", PRESENCE_ITEM)
                )
            busy = False
            if not backlog or self.now - read_at > self.d.poll_seconds:
                found: list[tuple[tuple[int, float, int], int]] = []
                for shard in range(self.d.queue_shards):
                    head = yield self._ddb("Query queue-index", partial(self._query, shard))
                    found.extend(head)
                found.sort()
                backlog = [job_id for _, job_id in found]
                read_at = self.now
            stale = misses = 0
            jobs, fast, rand, spread = (
                self.jobs,
                not self.b.shared_server,
                self.rng.random,
                self.spread,
            )
            while backlog and not busy:
                left = len(backlog)
                job_id = backlog.pop(int(rand() * (left if left < spread else spread)))
                if fast and jobs[job_id].status != "queued":
                    # A candidate taken since the read: its GetItem says so. Counted
                    # without an event each (statuses as of the first of them).
                    stale += 1
                    misses += 1
                    if give_up_after(misses, self.d.stale_limit):
                        backlog = []
                    continue
                if stale:
                    yield self._stale(stale)
                    stale = 0
                busy = yield from self.claim_and_handle(me, job_id)
                misses += 1
                if not busy and give_up_after(misses, self.d.stale_limit):
                    backlog = []
            if stale:
                yield self._stale(stale)
            if busy:
                empty_polls = 0
                continue
            empty_polls += 1
            pause = self.d.poll_seconds * self.rng.uniform(0.5, 1.5)
            pause = idle_pause(pause, empty_polls, self.d.poll_seconds * self.d.idle_backoff)
            if holder:
                hinted = yield ("hint", pause)
                if hinted is not None:
                    if (yield from self.claim_and_handle(me, hinted)):
                        empty_polls = 0
            else:
                yield ("wait", pause)

    def _stale(self, picks: int) -> Command:
        """``picks`` GetItems, one after the other, each finding its job taken."""
        self.stale_picks += picks
        self.meter.count("GetItem record", picks)
        self.meter.add(self.now, "rcu:table", "job", picks / 2)
        self.meter.units["read"] += picks / 2
        return ("wait", picks * self.b.dynamodb_seconds)

    def _query(self, shard: int) -> list[tuple[tuple[int, float, int], int]]:
        head = self.index[shard][:25]  # shared.table.JobTable.queued's limit
        self._read("queue-index", f"q{shard}", max(1, len(head)) * QUEUE_INDEX_ITEM)
        return list(head)

    def claim_and_handle(self, me: int, job_id: int) -> Generator[Command, Any, bool]:
        job = self.jobs[job_id]

        def fits() -> bool:
            self._read("table", "job", 100)
            return job.status == "queued"

        if not (yield self._ddb("GetItem record", fits)):
            self.stale_picks += 1
            return False

        def claim() -> bool:
            if job.status != "queued":
                self.failed_claims += 1
                self._write("table", "job", self._size(job, "claimed"))
                return False
            job.status = "processing"
            job.processor = me
            job.claimed = self.now
            self._job_write(job, self._size(job, "claimed"), projected=True, queue=True)
            if self.d.sweep_indexed:
                self._write("sweep-index", f"w{job.id % 4}", SWEEP_INDEX_ITEM)
            self._at(
                self.now + self.b.index_lag_seconds, partial(self._index_remove, job), kind=CALL
            )
            self.client_backlog[job.client] -= 1
            return True

        if not (yield self._ddb("UpdateItem claim", claim)):
            return False
        yield from self.handle(me, job)
        return True

    def handle(self, me: int, job: Job) -> Generator[Command, Any, None]:
        began = self.now
        yield self._ddb(
            "GetItem registration", lambda: self._read("clients", f"c{job.client}", 200, True)
        )
        if job.ready > self.now:
            yield ("wait", job.ready - self.now)
        per_chunk = job.size / job.chunks
        for _ in range(math.ceil(job.chunks / self.d.download_concurrency)):
            batch = min(self.d.download_concurrency, job.chunks)
            for _ in range(batch - 1):
                self.meter.count("s3 GetObject")
                self.meter.add(self.now, "s3r", f"c{job.client}", 1)
            self.meter.add(self.now, "s3r", f"c{job.client}", 1)
            yield self._s3("s3 GetObject", round(per_chunk))
        yield self._ddb(
            "UpdateItem downloaded",
            lambda: self._job_write(
                job, self._size(job, "downloaded"), projected=False, queue=False
            ),
        )
        work = self.b.fetcher_cpu_seconds + self.rng.expovariate(1.0 / self.w.processing_seconds)
        yield ("wait", work)

        def complete() -> None:
            job.status = "completed"
            job.completed = self.now
            self.completed += 1
            self.done_at.append(self.now)
            self.client_ready[job.client].append(job)
            if self.w.rate <= 0 and self.w.shape == "steady" and self.completed == self.arrived:
                self.horizon = self.now  # a fixed backlog: measured to its last result
            self._job_write(job, self._size(job, "completed"), projected=True, queue=False)
            if self.d.sweep_indexed:
                # The watcher's retirement, RETIRE_SECONDS later (metered now: a run
                # is shorter): the record's write and the index entry's removal.
                self.meter.count("UpdateItem retire")
                self._write("table", "job", self._size(job, "delivered"))
                self._write("sweep-index", f"w{job.id % 4}", SWEEP_INDEX_ITEM)

        # Heartbeats fell due every heartbeat_seconds while the job was held.
        beats = int((self.now - began) // self.d.heartbeat_seconds)
        for k in range(1, beats + 1):
            at = began + k * self.d.heartbeat_seconds
            saved, self.now = self.now, at
            self.meter.count("UpdateItem heartbeat")
            self._job_write(job, self._size(job, "downloaded"), projected=False, queue=False)
            self.now = saved
        yield self._ddb("UpdateItem complete", complete)
        self.busy_seconds += self.now - began
        for _ in range(job.chunks):
            self.meter.add(self.now, "s3w", f"c{job.client}", 1)
            yield self._s3("s3 DeleteObject")

    # -- the stream lease holder's reader (fetcher.hints) --------------------------

    def stream_reader(self) -> Process:
        while True:
            yield ("wait", self.d.stream_poll_seconds)
            shards = self._stream_shards()
            for _ in range(shards):
                self.meter.count("streams DescribeStream")
                self.meter.count("streams GetRecords")
            new, self._stream_new = self._stream_new, []
            for job_id in new:
                self._push_hint(job_id)

    def _stream_shards(self) -> int:
        """A table's stream has about one shard per partition (1,000 write units/s each)."""
        sec = int(self.now) - 1
        writes = self.meter.usage[("wcu:table", "job")].get(sec, 0.0)
        return max(1, math.ceil(writes / aws.PARTITION_WRITE.value))

    # -- desktops -----------------------------------------------------------------

    def arrivals(self) -> Process:
        w = self.w
        if w.shape == "drop":
            self.start(self.drop())
        if w.rate <= 0:
            return
        if w.shape == "paced":  # one at a time, as the cost benchmark drops them
            while True:
                yield ("wait", 1.0 / w.rate)
                self._upload(self._new_job(0, self.now))
        while True:
            rate = w.rate
            if w.shape == "bursts":
                rate = w.rate * 5 if (self.now % 60.0) < 12.0 else 1e-9
                gap = self.rng.expovariate(rate) if rate > 1e-6 else 60.0 - self.now % 60.0
            else:
                gap = self.rng.expovariate(rate)
            yield ("wait", gap)
            if w.shape == "bursts" and (self.now % 60.0) >= 12.0:
                continue
            self._upload(self._new_job(self.rng.randrange(w.clients), self.now))

    def drop(self) -> Process:
        client = self.w.clients  # a desktop of its own
        for _ in range(self.w.drop_files):
            yield ("wait", 1.0 / self.w.desktop_jobs_per_second)
            self._upload(self._new_job(client, self.now))

    def _upload(self, job: Job) -> None:
        """The desktop creates the record, then puts the chunks (and later its receipt)."""
        self._create(job, ready=self.now + self.b.s3_seconds * 2 + job.size / 50e6)
        for _ in range(job.chunks):
            self.meter.count("s3 PutObject")
            self.meter.add(self.now, "s3w", f"c{job.client}", 1)

    def desktop_poll(self, client: int) -> Process:
        """client.engine: one client-index query per poll while jobs are pending; it reads
        every job of the desktop's since its oldest pending one."""
        while self.client_pending[client]:
            jobs = self.client_jobs[client]
            while jobs and jobs[0].id not in self.client_pending[client]:
                jobs.popleft()
            if not jobs:
                break
            item = (
                NARROW_CLIENT_INDEX_ITEM
                if self.d.client_index_narrow
                else self._size(jobs[0], "completed")
            )
            nbytes = len(jobs) * item
            pages = max(1, math.ceil(nbytes / aws.PAGE_BYTES.value))
            self.meter.count("Query client-index", pages)
            self._read("client-index", f"c{client}", nbytes)
            ready = self.client_ready[client]
            self.client_ready[client] = []
            yield ("call", (self.b.dynamodb_seconds * pages, lambda: None))
            for job in ready:
                size = self._size(job, "completed")
                yield self._ddb("GetItem result", partial(self._read, "table", "job", size, True))
                self.client_pending[client].discard(job.id)
                self.latencies.append(self.now - job.created)
                self.meter.count("s3 PutObject receipt")
                self.meter.add(self.now, "s3w", f"c{client}", 1)
                self.receipts.append(job.id)
            pending = len(self.client_pending[client])
            yield ("wait", poll_interval(pending, self.d.client_poll_seconds))
        self.client_waiting[client] = False

    # -- the watcher (watcher.sweep) -----------------------------------------------

    def watcher(self) -> Process:
        while True:
            # The jobs' reads: their cost at steady state is report.sweep_figures().
            if self.d.sweep_indexed:
                self.meter.count("Query sweep-index", 4)
                self.meter.count("Query queue-index watcher", self.d.queue_shards)
                self.meter.count("BatchGetItem", 1)
            else:
                self.meter.count("Scan")
            self.meter.count("s3 ListObjectsV2", 2)
            budget = max(25, len(self.receipts))  # at least MIN_RECEIPTS a sweep
            for _ in range(min(budget, len(self.receipts))):
                job = self.jobs[self.receipts.popleft()]
                self.meter.count("s3 GetObject receipt")
                self.meter.count("UpdateItem delivered")
                self._job_write(job, self._size(job, "delivered"), projected=False, queue=False)
                self.meter.count("s3 DeleteObject receipt")
                self.meter.add(self.now, "s3w", f"c{job.client}", 1)
            yield ("wait", self.d.sweep_seconds)

    # -- what runs beside the jobs ------------------------------------------------------

    def _idle_overheads(self) -> None:
        """Lease attempts of the fetchers that do not hold one: a failed conditional
        write on the lease item, once per ``lease_seconds / 2 * U(0.5, 1)``."""
        if self.n <= 1 or self.d.stream_readers <= 0:
            return
        per_second = (self.n - self.d.stream_readers) / (self.d.lease_seconds / 2 * 0.75)
        for sec in range(int(self.horizon)):
            self.meter.add(sec, "wcu:table", "lease", per_second)
        self.meter.units["write"] += per_second * self.horizon
        self.meter.count("UpdateItem lease", per_second * self.horizon)
        renewals = self.horizon / (self.d.lease_seconds / 3)
        self.meter.count("UpdateItem lease", renewals)
        self.meter.units["write"] += renewals

    def _outcome(self) -> Outcome:
        counts: dict[str, int] = defaultdict(int)
        for job in self.jobs.values():
            counts[job.status] += 1
        return Outcome(
            arrived=self.arrived,
            completed=counts["completed"],
            queued=counts["queued"],
            processing=counts["processing"],
            failed_claims=self.failed_claims,
            stale_picks=self.stale_picks,
            seconds=self.horizon,
            done_at=self.done_at,
            meter=self.meter,
            latencies=self.latencies,
            fetchers=self.n,
            busy_seconds=self.busy_seconds,
        )


def idle_pause(pause: float, empty_polls: int, longest: float) -> float:
    """The pause after ``empty_polls`` empty reads in a row: doubled after each, up to
    ``longest`` (a design the model compares; the fetcher does not back off)."""
    if empty_polls <= 1 or longest <= pause:
        return pause
    return min(longest, pause * float(2 ** min(empty_polls - 1, 30)))
