"""Attacks on a fetcher through the real roles: a poison record written with a
desktop's own credentials, and an analysis container that misbehaves on purpose.

The hostile container is a small threaded HTTP server run by the test: it
answers honestly for jobs it was not told about, and for the others sends a
huge body, trickles its answer, redirects (307 to a second listener that
records whether any byte reached it; 302), answers with a huge error full of
newlines and terminal escapes, fails (500) on every attempt, or is over
capacity (503). One real fetcher
process takes every job in turn; afterwards it must still be alive, complete
an honest job, and have stayed under a stated memory peak.
"""

from __future__ import annotations

import json
import socketserver
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from client.engine import Engine
from infra.local.stack import LocalStack
from infra.local.up import Part, System
from shared.aws import Aws
from shared.reasons import MAX_REASON_BYTES
from shared.record import Job, Status, iso, queue_rank, queue_shard, to_item, utc_now
from shared.table import JobTable
from tests import samples
from tests.helpers import wait_for
from tests.jobs import HandMade, create_job, ended, upload_chunks

MB = 1024 * 1024
ANSWER_CAP = 1 * MB
"""The fetcher's ``processor_max_answer_bytes`` in this test."""
HUGE_BODY = 400 * MB
"""What the hostile container offers as an answer: far over the cap."""
PEAK_CAP = 250 * MB
"""The fetcher's peak resident memory (VmHWM) must stay under this: it holds
no more of an answer than its cap, and an idle fetcher peaks near 100 MB."""
DEADLINE = 6.0
NOISE = "bad input\n\x1b[31mred\x1b[0m\r\n2026-01-01 INFO forged log line\x07\x1b]0;title\x07 "


class Sink(socketserver.ThreadingTCPServer):
    """Where a redirect points: counts every byte that reaches it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.received = 0
        self.connections = 0
        super().__init__(("127.0.0.1", 0), SinkHandler)


class SinkHandler(socketserver.BaseRequestHandler):
    server: Sink

    def handle(self) -> None:
        self.server.connections += 1
        self.request.settimeout(2)
        try:
            while data := self.request.recv(65536):
                self.server.received += len(data)
        except OSError:
            pass


class Hostile(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sink: Sink) -> None:
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.sink = sink
        self.plans: dict[str, str] = {}
        self.calls: dict[str, int] = {}
        self.lengths: dict[str, str | None] = {}
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class HostileHandler(BaseHTTPRequestHandler):
    server: Hostile
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self._reply(404, b'{"error": "no progress here"}')

    def do_POST(self) -> None:
        job = self.headers.get("X-Fpw-Job", "")
        length = self.headers.get("Content-Length")
        self.server.lengths[job] = length
        self.server.calls[job] = self.server.calls.get(job, 0) + 1
        if length is None:
            self._reply(411, b'{"error": "send a Content-Length"}', close=True)
            return
        self.rfile.read(int(length))
        plan = self.server.plans.get(job, "honest")
        if plan == "busy" and self.server.calls[job] <= 2:
            self._reply(503, b'{"error": "over capacity"}', extra={"Retry-After": "1"})
        elif plan == "huge":
            self._stream(b"\0" * MB, HUGE_BODY // MB, pause=0.0)
        elif plan == "trickle":
            self._stream(b"{", 10_000, pause=1.0)
        elif plan in ("307", "302"):
            target = f"http://127.0.0.1:{self.server.sink.server_address[1]}/analyze"
            self._reply(int(plan), b"", extra={"Location": target})
        elif plan == "crash":
            self._reply(500, json.dumps({"error": NOISE * 2000}).encode())
        elif plan == "noisy":
            error = NOISE * 10 + "x" * 450_000
            self._reply(400, json.dumps({"error": error}).encode())
        else:
            self._reply(200, json.dumps({"kind": "text", "job": job, "honest": True}).encode())

    def _reply(
        self, status: int, body: bytes, extra: dict[str, str] | None = None, close: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, block: bytes, count: int, pause: float) -> None:
        """A 200 whose body never ends in time: ``count`` blocks, ``pause`` s apart."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(block) * count))
        self.end_headers()
        self.close_connection = True
        try:
            for _ in range(count):
                if self.server.stopping.wait(pause):
                    return
                self.wfile.write(block)
                self.wfile.flush()
        except OSError:
            pass  # the fetcher hung up: what it should do


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    sink = Sink()
    server = Hostile(sink)
    for serve in (sink.serve_forever, server.serve_forever):
        threading.Thread(target=serve, daemon=True).start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        sink.shutdown()
        server.server_close()
        sink.server_close()


def peak_memory(part: Part) -> int:
    """The process's peak resident memory (VmHWM) in bytes."""
    status = Path(f"/proc/{part.proc.pid}/status").read_text(encoding="utf-8")
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def item_fits(aws: Aws, item: dict[str, Any]) -> bool:
    try:
        aws.dynamodb.put_item(TableName=aws.settings.table, Item=item)
    except ClientError as exc:
        if "maximum allowed size" in str(exc):
            return False
        raise
    return True


def poison_record(aws: Aws, client: str, room: int) -> str:
    """A queued, well-formed record with a bad signature, ``room`` bytes under the largest
    item the table accepts (found by trying), written with the client role."""
    file_id = f"file-{uuid.uuid4()}"
    created = iso(utc_now())
    job = Job(
        file=file_id,
        client=client,
        version="0.1.0",
        created=created,
        bucket=aws.settings.bucket,
        chunks=1,
        size=1,
        sha256="0" * 64,
        chunk_sha256=["0" * 64],
        signature="00" * 64,
        queue=queue_shard(file_id, aws.settings.queue_shards),
        rank=queue_rank(0, "2000-01-01T00:00:00.000Z"),
    )

    def item(pad: int) -> dict[str, Any]:
        job.params = {"note": "p" * pad}
        return to_item(job)

    low, high = 0, 420_000
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if item_fits(aws, item(middle)) else (low, middle)
    assert item_fits(aws, item(low - room))
    return file_id


def made(engine: Engine, tmp_path: Path, name: str, text: str) -> HandMade:
    path = samples.make_text(tmp_path / f"{name}.txt", text)
    return create_job(engine.aws, engine.key, path, tmp_path / "spool")


def test_hostile_records_and_processors_stop_no_fetcher(
    stack: LocalStack, system: System, engine: Engine, hostile: Hostile, tmp_path: Path
) -> None:
    plans = ("huge", "trickle", "307", "302", "noisy", "busy", "crash")
    jobs = {plan: made(engine, tmp_path, plan, f"the {plan} job\n") for plan in plans}
    for plan, job in jobs.items():
        hostile.plans[job.job.file] = plan
        upload_chunks(engine.aws, job)
    # Just small enough to claim, too large to take the reason of its bad signature.
    poison = poison_record(engine.aws, engine.client_id, room=150)

    fetcher = system.start_fetcher(
        processor_url=hostile.url,
        analysis_deadline_seconds=DEADLINE,
        processor_timeout_seconds=DEADLINE,
        processor_max_answer_bytes=ANSWER_CAP,
        processor_retries=1,
        groups={"watcher": {"max_attempts": 2}},
    )
    timeout = 120
    results = {plan: ended(stack, job.job.file, timeout) for plan, job in jobs.items()}
    admin = Aws(stack.admin_settings(), "test-admin")
    poisoned = wait_for(
        lambda: (
            (j := JobTable(admin.dynamodb, admin.settings.table).get(poison))
            and j.status.finished
            and j
        ),
        timeout=timeout,
        what="the poison record to end",
    )

    def error(job: Job) -> str:
        assert job.status is Status.ERROR, job
        text = job.error or ""
        assert len(text.encode()) <= MAX_REASON_BYTES
        assert text.isprintable() and "\x1b" not in text, text
        return text

    assert "signature does not match" in error(poisoned)
    assert "too large" in error(poisoned)
    assert "larger than fetcher.processor_max_answer_bytes" in error(results["huge"])
    trickled = error(results["trickle"])
    assert "did not finish within" in trickled and results["trickle"].attempts == 2
    for code in ("307", "302"):
        assert f"answered {code} (a redirect" in error(results[code])
    assert hostile.sink.connections == 0 and hostile.sink.received == 0
    noisy = error(results["noisy"])
    assert "bad input red 2026-01-01 INFO forged log line" in noisy
    assert results["busy"].status is Status.COMPLETED and results["busy"].attempts == 1
    # Failing on every attempt: given back each time, then ended by the attempts rule.
    crashed = error(results["crash"])
    assert "gave up after 2 failed attempts" in crashed and "forged log line" in crashed
    assert results["crash"].attempts == 3
    assert hostile.calls[jobs["busy"].job.file] == 3

    output = fetcher.output()
    assert "\x1b" not in output and "\n2026-01-01 INFO forged" not in output
    assert None not in hostile.lengths.values()

    # Still alive, and an honest job goes through.
    path = samples.make_text(tmp_path / "after.txt", "the fetcher is still working\n")
    honest = engine.submit(path, {})
    assert honest
    assert engine.wait(honest, timeout=60).error is None
    assert fetcher.alive()
    peak = peak_memory(fetcher)
    assert peak < PEAK_CAP, f"the fetcher peaked at {peak // MB} MB"


def test_an_empty_file_ends_in_a_defined_result(
    system: System, engine: Engine, tmp_path: Path
) -> None:
    """An empty file is sent with Content-Length: 0; the reference container answers it."""
    system.start_fetcher()
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    job = engine.submit(path, {})
    assert job
    drop = engine.wait(job, timeout=90)
    assert drop.error is None, drop.error
    entries = [
        json.loads(line)
        for line in system.parts["processor"].output().splitlines()
        if line.startswith("{") and job in line
    ]
    assert entries and entries[-1]["status"] == 200 and entries[-1]["bytes"] == 0


def test_a_trickling_answer_is_cut_off_at_the_deadline(hostile: Hostile, tmp_path: Path) -> None:
    """The call itself, without a fetcher: the deadline holds however slow the answer."""
    from fetcher.processor_client import Overdue, analyze

    hostile.plans["file-trickle"] = "trickle"
    path = samples.make_text(tmp_path / "x.txt", "x\n")
    with pytest.raises(Overdue):
        analyze(
            hostile.url,
            path,
            job="file-trickle",
            content_type="text/plain",
            params={},
            timeout=2.0,
            max_bytes=MB,
        )
