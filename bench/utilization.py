"""How busy one fetcher keeps its analysis container: pipelined against one job at a time.

A container that takes a fixed time per file (``ANALYSIS_SECONDS``) and declares
its capacity (1, then 2) in ``GET /health`` runs in this process and records
when each analysis starts and ends; beyond its capacity it answers 503, as the
contract asks. A backlog of jobs (small and large files of random bytes, which
the client cannot compress, so every byte moves; their chunks uploaded
before the records are created, so jobs arrive faster than they are analysed)
is handed to one fetcher process, pipelined (the default) and then with
``fetcher.pipelined = false``, in the same run; the large files once more handed
over on a shared folder, as the template deploys the fleet. Each job's timeline
(``timeline``) says where the container's idle time went: the gap after each
analysis, and whether the next job was prepared by then.

Busy fraction: the time with at least one analysis running, over the wall time
from the first claim to the last result (the records' ``assigned`` and
``processed``); slot use: analysis time over capacity × wall time. The
accelerator's dollars per 1,000 jobs follow from jobs per hour
(``bench.prices.GPU_HOUR``): a container is paid for while it waits too.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from statistics import median
from typing import TYPE_CHECKING, Any

from bench.common import Context, Outcome, say, start_fetcher, verdict
from bench.prices import GPU_HOUR, GPU_INSTANCE, gpu_dollars_per_1000_jobs
from bench.throughput import make_backlog
from processor.server import HangUpServer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from infra.local.stack import LocalStack

ANALYSIS_SECONDS = 1.0
MIB = 1024 * 1024


@dataclass(frozen=True)
class Call:
    """One analysis as the container saw it (epoch seconds)."""

    arrived: float
    """The request's headers were read (the slot was free: else it is refused)."""
    started: float
    """The whole file was received: the analysis starts."""
    ended: float


@dataclass(frozen=True)
class Steps:
    """One job's timeline (epoch seconds): the record's times and the container's."""

    claimed: float
    prepared: float
    """Downloaded, verified and merged (the record's ``downloaded``)."""
    call: Call
    written: float
    """The result written back (the record's ``processed``)."""


def timeline(steps: list[Steps], capacity: int) -> dict[str, float]:
    """Where the container's idle time between the first claim and the last result goes.

    A slot frees when an analysis ends; the analysis that next takes it starts
    after a gap, which is the sending of the request plus the file's transfer
    when that job was already prepared, and the rest of its preparation when
    not. With fixed-time analyses the slots are taken in turn, so the ``i``-th
    analysis (by start) takes the slot freed by the ``i - capacity``-th end.
    """
    order = sorted(steps, key=lambda s: s.call.started)
    ends = sorted(s.call.ended for s in order)
    first = min(s.claimed for s in order)
    last = max(s.written for s in order)
    wall = last - first
    gaps: list[float] = []
    ready: list[bool] = []
    sends: list[float] = []
    for i, s in enumerate(order[capacity:], start=capacity):
        freed = ends[i - capacity]
        gaps.append(max(0.0, s.call.started - freed))
        ready.append(s.prepared <= freed)
        if s.prepared <= freed:
            sends.append(max(0.0, s.call.arrived - freed))
    head = order[0].call.started - first
    tail = last - max(ends)
    return {
        "head_seconds": round(head, 3),
        "tail_seconds": round(tail, 3),
        "busy_bound": round(1 - (head + tail) / wall, 3) if wall > 0 else 0.0,
        "prepare_median_seconds": round(median(s.prepared - s.claimed for s in order), 3),
        "transfer_median_seconds": round(median(s.call.started - s.call.arrived for s in order), 3),
        "write_back_median_seconds": round(median(s.written - s.call.ended for s in order), 3),
        "gap_median_seconds": round(median(gaps), 3) if gaps else 0.0,
        "gap_max_seconds": round(max(gaps), 3) if gaps else 0.0,
        "gap_total_seconds": round(sum(gaps), 3),
        "prepared_when_slot_freed": round(sum(ready) / len(ready), 3) if ready else 1.0,
        # From a slot freeing to the next prepared job's request reaching the container.
        "send_median_seconds": round(median(sends), 3) if sends else 0.0,
    }


class TimedContainer:
    """An analysis container on loopback: ``seconds`` per file, ``capacity`` at once."""

    def __init__(self, capacity: int, seconds: float) -> None:
        self.capacity = capacity
        self.seconds = seconds
        self.spans: list[tuple[float, float]] = []
        self.calls: dict[str, Call] = {}
        """Each job's analysis, by the job id the fetcher sends."""
        self.refused = 0
        slots = threading.BoundedSemaphore(capacity)
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 503:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/health":
                    self._answer(200, {"status": "ok", "capacity": outer.capacity})
                else:
                    self._answer(404, {"error": "no such resource"})

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                arrived = time.time()
                left = int(self.headers.get("Content-Length", "0"))
                if not slots.acquire(blocking=False):
                    with lock:
                        outer.refused += 1
                    self.close_connection = True
                    self._answer(503, {"error": "busy"})
                    return
                try:
                    while left > 0:
                        block = self.rfile.read(min(MIB, left))
                        if not block:
                            break
                        left -= len(block)
                    started = time.time()
                    time.sleep(outer.seconds)
                    ended = time.time()
                    with lock:
                        outer.spans.append((started, ended))
                        job = self.headers.get("X-Fpw-Job", "")
                        outer.calls[job] = Call(arrived, started, ended)
                finally:
                    slots.release()
                self._answer(200, {"kind": "timed", "seconds": outer.seconds})

        self.server = HangUpServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def busy_seconds(self, start: float, end: float) -> float:
        """Time within [start, end] with at least one analysis running."""
        total = 0.0
        reach = start
        for a, b in sorted(self.spans):
            a, b = max(a, reach), min(b, end)
            if b > a:
                total += b - a
                reach = b
        return total

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def one_run(
    ctx: Context,
    stack: LocalStack,
    key: ec.EllipticCurvePrivateKey,
    *,
    size: int,
    jobs: int,
    capacity: int,
    pipelined: bool,
    prefetch: int = 0,
    shared: bool = False,
) -> dict[str, Any]:
    """One fetcher through a backlog of ``jobs``; ``shared``: the merged file is handed
    to the container by name on a shared folder (``fetcher.processor_shared_dir``)
    instead of sent in the request."""
    from infra.local.up import System
    from shared.aws import Aws
    from shared.record import parse_iso
    from shared.table import JobTable

    mode = f"pipelined, {prefetch or capacity} prefetched" if pipelined else "one at a time"
    mode += ", shared folder" if shared else ""
    label = f"{size // MIB}mib-c{capacity}-{'pipelined' if pipelined else 'serial'}-p{prefetch}"
    label += "-shared" if shared else ""
    home = ctx.folder(f"utilization/{label}")
    say(f"utilization: {jobs} jobs of {size // MIB} MiB, capacity {capacity}, {mode}")
    settings: dict[str, object] = {
        "work_dir": str(home / "work"),
        "pipelined": pipelined,
        "prefetch_jobs": prefetch,
    }
    if shared:
        settings["processor_shared_dir"] = str(home / "shared")
    client_aws = Aws(stack.role_settings("client"), "bench-client")
    table = JobTable(client_aws.dynamodb, stack.outputs["JobsTable"])
    backlog = make_backlog(client_aws, key, jobs, home, file_bytes=size, incompressible=True)
    for made in backlog:
        table.create(made.job)
    container = TimedContainer(capacity, ANALYSIS_SECONDS)
    system = System(stack, home / "system")
    admin = JobTable(Aws(stack.admin_settings(), "bench-admin").dynamodb, table.table)
    try:
        part = start_fetcher(
            system,
            "fetcher",
            {"processor_url": container.url, **settings},
        )
        deadline = time.monotonic() + 120 + jobs * (ANALYSIS_SECONDS + size / (4 * MIB))
        while True:
            records = [admin.get(made.job.file) for made in backlog]
            if all(r is not None and r.status.finished for r in records):
                break
            if not part.alive() or time.monotonic() > deadline:
                raise SystemExit(f"utilization: stalled ({label}):\n{part.output()[-2000:]}")
            time.sleep(0.5)
    finally:
        system.stop()
        container.close()
    done = [r for r in records if r is not None and r.assigned and r.processed]
    if len(done) != jobs:
        raise SystemExit(f"utilization: {jobs - len(done)} jobs did not complete ({label})")
    first = min(parse_iso(r.assigned).timestamp() for r in done if r.assigned)
    last = max(parse_iso(r.processed).timestamp() for r in done if r.processed)
    wall = last - first
    analysed = sum(b - a for a, b in container.spans)
    steps = {
        r.file: Steps(
            parse_iso(r.assigned).timestamp(),
            parse_iso(r.downloaded or r.assigned).timestamp(),
            container.calls[r.file],
            parse_iso(r.processed).timestamp(),
        )
        for r in done
        if r.assigned and r.processed and r.file in container.calls
    }
    # Every job's timeline, for a look at where a gap came from (``--keep``).
    dump = [{"job": job, **asdict(step)} for job, step in steps.items()]
    (home / "timeline.json").write_text(json.dumps(dump, indent=1))
    return {
        "size_mib": size // MIB,
        "capacity": capacity,
        "pipelined": pipelined,
        "prefetch_jobs": (prefetch or capacity) if pipelined else 0,
        "shared_folder": shared,
        "jobs": jobs,
        "seconds": round(wall, 2),
        "busy_fraction": round(container.busy_seconds(first, last) / wall, 3),
        "slot_use": round(analysed / (capacity * wall), 3),
        "jobs_per_hour": round(jobs / wall * 3600),
        "gpu_dollars_per_1000_jobs": round(gpu_dollars_per_1000_jobs(jobs / wall * 3600), 2),
        "refused_503": container.refused,
        **timeline(list(steps.values()), capacity),
    }


Mode = tuple[int, bool, int, bool]
MODES: tuple[Mode, ...] = (
    (1, True, 0, False),
    (1, True, 2, False),
    (1, False, 0, False),
    (2, True, 0, False),
    (2, False, 0, False),
)
"""(capacity, pipelined, prefetch_jobs, shared folder) of every size. Capacity 1 also
with two jobs prepared at once: one prepared job keeps the container busy only while
preparing a job takes less than analysing one."""
LARGE_MODES: tuple[Mode, ...] = ((1, True, 0, True), (2, True, 0, True))
"""The large files also handed over on a shared folder, as the template deploys the
fleet (``FPW_FETCHER_PROCESSOR_SHARED_DIR`` in the ECS task): no transfer in the slot."""


def client(ctx: Context, name: str) -> tuple[LocalStack, ec.EllipticCurvePrivateKey]:
    """The local stack and a registered client key of the benchmark ``name``."""
    from infra.admin import register_client
    from shared.keys import load_or_create_key
    from shared.signing import client_id

    stack = ctx.stack()
    key = load_or_create_key(ctx.folder(name) / "key")
    register_client(stack.admin_settings(), client_id(key.public_key()), f"bench {name}")
    return stack, key


def run(ctx: Context) -> Outcome:
    # Enough jobs that the first preparation and the last write-back (nothing to
    # overlap them with) are a small part of the wall time: ``busy_bound`` is
    # the busy fraction left once they are taken out.
    jobs = ctx.pick(30, 40)
    sizes = (MIB, ctx.pick(16, 100) * MIB)
    stack, key = client(ctx, "utilization")
    rows = [
        one_run(
            ctx,
            stack,
            key,
            size=size,
            jobs=jobs,
            capacity=capacity,
            pipelined=pipelined,
            prefetch=prefetch,
            shared=shared,
        )
        for size in sizes
        for capacity, pipelined, prefetch, shared in MODES + (LARGE_MODES if size > MIB else ())
    ]

    def row(size: int, capacity: int, pipelined: bool, shared: bool = False) -> dict[str, Any]:
        return next(
            r
            for r in rows
            if r["size_mib"] == size // MIB
            and r["capacity"] == capacity
            and r["pipelined"] is pipelined
            and r["prefetch_jobs"] == (capacity if pipelined else 0)
            and r["shared_folder"] is shared
        )

    def scaling(size: int, shared: bool) -> float:
        two, one = row(size, 2, True, shared), row(size, 1, True, shared)
        return float(two["jobs_per_hour"] / one["jobs_per_hour"])

    def figures(size: int, shared: bool) -> str:
        return (
            f"busy {row(size, 1, True, shared)['busy_fraction']:.2f} pipelined,"
            f" capacity 2 / 1 = {scaling(size, shared):.2f}×"
        )

    # Judged as the fleet is deployed: the large files on the shared folder; their
    # figures over HTTP are given beside.
    deployed = {size: size > MIB for size in sizes}
    met = all(
        row(size, 1, True, deployed[size])["busy_fraction"] >= 0.95
        and scaling(size, deployed[size]) >= 1.8
        for size in sizes
    )
    parts = "; ".join(
        f"{size // MIB} MiB: "
        + (f"shared folder {figures(size, True)}, over HTTP " if deployed[size] else "")
        + f"{figures(size, False)};"
        f" one at a time busy {row(size, 1, False)['busy_fraction']:.2f}"
        for size in sizes
    )
    headline = f"utilization ({jobs} jobs, {ANALYSIS_SECONDS:.0f} s each): {parts} {verdict(met)}"
    gpu = f"{GPU_INSTANCE} on demand at ${GPU_HOUR}/h, us-east-1"
    return Outcome("utilization", headline, {"runs": rows, "gpu": gpu}, met)
