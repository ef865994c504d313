"""A pipelined fetcher against analysis containers of known capacity: it never sends
more analyses than declared, prefetched jobs keep their claim alive and go back at
once on SIGTERM, a container busy with 503 costs the job nothing, and the queue is
read ahead while jobs are prepared, so a freed place is claimed without a read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fetcher.claims import Claimer
from infra.admin import register_client
from infra.local.stack import LocalStack
from infra.local.up import System
from shared import signing
from shared.aws import Aws
from shared.config import Settings
from shared.record import Job, Status
from shared.table import JobTable
from tests import samples
from tests.helpers import wait_for
from tests.jobs import HandMade, create_job, ended, upload_chunks
from tests.loopback import Loopback, Quiet


class Container(Loopback):
    """An analysis container on loopback that declares ``capacity``, counts the
    analyses it runs at once, answers the first ``busy`` requests 503, and holds
    each analysis until ``gate`` is set (then ``seconds`` more)."""

    def __init__(self, capacity: int, *, busy: int = 0, seconds: float = 0.0) -> None:
        self.capacity = capacity
        self.busy_left = busy
        self.seconds = seconds
        self.gate = threading.Event()
        self.gate.set()
        self.active = 0
        self.peak = 0
        self.over = 0
        self.calls: list[str] = []
        self.busy_answers = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(Quiet):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/health":
                    health = {"status": "ok", "capacity": outer.capacity}
                    self.answer(json.dumps(health).encode())
                else:
                    self.answer(b'{"error":"no progress reported"}', 404)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                job = self.headers.get("X-Fpw-Job", "?")
                with outer.lock:
                    outer.calls.append(job)
                    refuse = outer.busy_left > 0
                    if refuse:
                        outer.busy_left -= 1
                        outer.busy_answers += 1
                    else:
                        outer.active += 1
                        outer.peak = max(outer.peak, outer.active)
                        outer.over += outer.active > outer.capacity
                if refuse:
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                try:
                    outer.gate.wait(120)
                    time.sleep(outer.seconds)
                finally:
                    with outer.lock:
                        outer.active -= 1
                result = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.answer(json.dumps(result).encode())

        super().__init__(Handler)


@pytest.fixture
def key(stack: LocalStack) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    register_client(stack.admin_settings(), signing.client_id(key.public_key()), "pipelining")
    return key


def jobs(
    stack: LocalStack, key: ec.EllipticCurvePrivateKey, tmp_path: Path, count: int
) -> list[HandMade]:
    """``count`` queued jobs of this test's client, their chunks uploaded."""
    aws = Aws(stack.role_settings("client"), "test-client")
    made = []
    for n in range(count):
        path = samples.make_text(tmp_path / f"file-{n}.txt", f"file number {n}\n" * 50)
        job = create_job(aws, key, path, tmp_path / "spool", backlog=n)
        upload_chunks(aws, job)
        made.append(job)
    return made


def record(stack: LocalStack, file_id: str) -> Job:
    aws = Aws(stack.admin_settings(), "test-admin")
    job = JobTable(aws.dynamodb, aws.settings.table).get(file_id)
    assert job is not None
    return job


@pytest.fixture
def system(stack: LocalStack, tmp_path: Path) -> Iterator[System]:
    """Parts without the reference processor: each test runs its own container."""
    system = System(stack, tmp_path / "system")
    try:
        yield system
    finally:
        system.stop()


def test_the_fetcher_never_sends_more_analyses_than_the_declared_capacity(
    stack: LocalStack, system: System, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    container = Container(capacity=2, seconds=1.0)
    try:
        made = jobs(stack, key, tmp_path, 6)
        system.processor_url = container.url
        system.start_fetcher("pipelined")
        for job in made:
            assert ended(stack, job.job.file, timeout=180).status is Status.COMPLETED
        assert container.over == 0, f"{container.over} analyses beyond the declared capacity"
        assert container.peak == 2, "two analyses ran at once"
        assert sorted(container.calls) == sorted(j.job.file for j in made)
    finally:
        container.close()


def test_a_container_busy_with_503_is_asked_again_and_the_job_is_not_lost(
    stack: LocalStack, system: System, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    container = Container(capacity=1, busy=2)
    try:
        (made,) = jobs(stack, key, tmp_path, 1)
        system.processor_url = container.url
        system.start_fetcher("pipelined")
        job = ended(stack, made.job.file, timeout=120)
        assert job.status is Status.COMPLETED, job.error
        assert job.attempts == 1, "waiting on a busy container spends no attempt"
        assert container.busy_answers == 2
        assert container.calls == [made.job.file] * 3
    finally:
        container.close()


def test_a_prefetched_job_keeps_its_heartbeat_and_goes_back_at_once_on_sigterm(
    stack: LocalStack, system: System, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    container = Container(capacity=1)
    container.gate.clear()  # the first analysis holds the only slot
    try:
        made = jobs(stack, key, tmp_path, 2)
        ids = {m.job.file for m in made}
        system.processor_url = container.url
        fetcher = system.start_fetcher(
            "pipelined", heartbeat_seconds=0.5, shutdown_grace_seconds=120.0
        )
        wait_for(lambda: len(container.calls) == 1, timeout=120, what="the first analysis")
        (analysed,) = container.calls
        (prefetched,) = ids - {analysed}
        held = wait_for(
            lambda: j if (j := record(stack, prefetched)).status is Status.PROCESSING else None,
            timeout=120,
            what="the second job claimed while the first is analysed",
        )
        assert held is not None
        first_beat = held.heartbeat
        wait_for(
            lambda: record(stack, prefetched).heartbeat != first_beat,
            timeout=60,
            what="a heartbeat of the prefetched job",
        )
        assert record(stack, prefetched).status is Status.PROCESSING

        fetcher.signal(signal.SIGTERM)
        back = wait_for(
            lambda: j if (j := record(stack, prefetched)).status is Status.QUEUED else None,
            timeout=60,
            what="the prefetched job back in the queue",
        )
        assert back is not None and back.holder is None and back.attempts == 1
        # The analysis in flight was not cut short: it finishes within the grace.
        assert record(stack, analysed).status is Status.PROCESSING
        container.gate.set()
        assert ended(stack, analysed, timeout=120).status is Status.COMPLETED
        assert container.calls == [analysed], "the prefetched job never reached the container"
        wait_for(lambda: not fetcher.alive(), timeout=60, what="the fetcher to exit")
    finally:
        container.gate.set()
        container.close()


def test_the_queue_is_read_ahead_so_the_claim_made_when_a_place_frees_need_not_read_it(
    stack: LocalStack, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    made = jobs(stack, key, tmp_path, 2)
    settings = Settings()
    settings.aws = stack.role_settings("fetcher")
    poll = settings.fetcher.poll_seconds
    aws = Aws(settings.aws, "test-fetcher")
    now = [1_000_000.0]
    claimer = Claimer(
        settings,
        JobTable(aws.dynamodb, settings.aws.table),
        "processor-read-ahead",
        tmp_path,
        lambda *_: None,
        clock=lambda: now[0],
    )
    stopped = threading.Event()
    stopped.set()  # ``next`` reads the index, then claims nothing: the jobs stay queued

    claimer.read_ahead(1.0)
    assert claimer.index_reads == 0, "nothing read yet: a first read is the claim's own"
    wait_for(
        lambda: claimer.next(stopped) is None and claimer.index_reads > 0,
        timeout=60,
        what="a read of the index",
    )
    reads = claimer.index_reads
    now[0] += poll - 1.0 - 0.1
    claimer.read_ahead(1.0)
    assert claimer.index_reads == reads, "a read fresh enough for a claim within 1 s is kept"
    now[0] += 0.2
    claimer.read_ahead(1.0)
    assert claimer.index_reads == reads + 1, "a read that would be stale by then is renewed"
    now[0] += 0.9  # the place frees: the claim takes the read made ahead
    claimer.next(stopped)
    assert claimer.index_reads == reads + 1, "the claim waited for a read of every shard"
    assert all(record(stack, m.job.file).status is Status.QUEUED for m in made)
