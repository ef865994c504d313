"""The fetcher fleet: stream hints under a lease, pipelined transfer, shutdown,
version gating and large results, on the local stack with real processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.engine import Engine
from client.state import Phase
from fetcher.hints import StreamHints, lease_bound_streams
from fetcher.lease import StreamLease, slot_key
from fetcher.stream import Hint
from fetcher.worker import Fetcher
from infra.fleetkey import local_key_file
from infra.local.stack import LocalStack
from infra.local.up import System
from shared import hpke
from shared.aws import Aws
from shared.config import Settings
from shared.presence import PRESENCE_PREFIX
from shared.record import Status
from shared.table import JobTable
from tests import samples
from tests.helpers import scaled, wait_for
from tests.jobs import create_job, upload_chunks
from tests.loopback import Loopback, Quiet


def admin(stack: LocalStack) -> Aws:
    return Aws(stack.admin_settings(), "test-admin")


def jobs(stack: LocalStack) -> JobTable:
    aws = admin(stack)
    return JobTable(aws.dynamodb, aws.settings.table)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that were open at one instant."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def test_no_more_than_two_processes_read_the_stream_and_a_takeover_loses_nothing(
    stack: LocalStack, engine: Engine, tmp_path: Path
) -> None:
    fleet = []
    for n in range(6):
        aws = Aws(stack.role_settings("fetcher"), f"test-reader-{n}")
        table = JobTable(aws.dynamodb, aws.settings.table)
        arn = aws.stream_arn()
        assert arn
        lease = StreamLease(table, f"processor-reader-{n}", slots=2, seconds=8.0)
        streams = lease_bound_streams(aws, lease.seconds)
        fleet.append(StreamHints(lease, streams, arn, poll_seconds=0.1))
    for reader in fleet:
        reader.start()
    wait_for(lambda: sum(1 for r in fleet if r.reads) == 2, what="two readers at work")
    first = [r for r in fleet if r.reads]
    created = []
    try:
        for i in range(24):
            path = tmp_path / f"hinted-{i}.txt"
            samples.make_text(path, f"hint {i}\n")
            created.append(create_job(engine.aws, engine.key, path, tmp_path / "spool").job.file)
            if i == 12:
                # Both reading processes die without giving their leases back
                # (after saving a checkpoint at their first renewal).
                for reader in first:
                    reader.stop(give_back=False)
            time.sleep(0.3)
        later = created[13:]
        wait_for(
            lambda: set(later) <= {h.file for r in fleet if r not in first for h in r.hints.queue},
            timeout=60,
            what="the jobs created after the crash announced by the readers that took over",
        )
        announced = {h.file for r in fleet for h in list(r.hints.queue)}
        assert set(created) <= announced
    finally:
        for reader in fleet:
            reader.stop()
    reads = [interval for r in fleet for interval in r.reads]
    assert max_overlap(reads) <= 2
    assert len([r for r in fleet if r.reads]) >= 3, "the crashed readers' slots were taken over"


def test_the_stream_announces_a_new_job_long_before_the_next_index_poll(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    """The index is read at start, then only after an idle wait of 30 to 90
    minutes: a job done within the test's deadline was announced by the stream."""
    fetcher = system.start_fetcher(
        "fetcher-stream", poll_seconds=3600.0, stream_readers=1, lease_seconds=5.0
    )
    table = jobs(stack)

    def item(key: str) -> dict[str, Any]:
        answer = table.dynamodb.get_item(TableName=table.table, Key={"file": {"S": key}})
        return dict(answer.get("Item", {}))

    wait_for(lambda: item(slot_key(0)).get("holder"), what="the fetcher taking the stream lease")
    # It announces itself, then reads the index at once.
    wait_for(
        lambda: any(
            str(j["file"]["S"]).startswith(PRESENCE_PREFIX)
            for j in table.dynamodb.scan(TableName=table.table)["Items"]
        ),
        what="the fetcher announcing itself",
    )
    time.sleep(scaled(1.0))  # past its first look at the index
    path = tmp_path / "prompt.txt"
    samples.make_text(path, "announced through the stream\n")
    made = create_job(engine.aws, engine.key, path, tmp_path / "spool")
    upload_chunks(engine.aws, made)
    try:
        wait_for(
            lambda: (j := table.get(made.job.file)) and j.status is Status.COMPLETED,
            timeout=60,
            what="completion, announced by the stream",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nthe fetcher said:\n{fetcher.output()[-3000:]}") from None


def test_a_job_claimed_while_its_upload_is_in_progress_completes(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "streaming upload.txt"
    samples.make_text(path, " ".join(os.urandom(4).hex() for _ in range(15_000)))
    made = create_job(engine.aws, engine.key, path, tmp_path / "spool", chunk_size=16 * 1024)
    assert made.job.chunks >= 6
    system.start_fetcher(chunk_wait_seconds=60)
    table = jobs(stack)
    wait_for(
        lambda: (j := table.get(made.job.file)) and j.status is Status.PROCESSING,
        what="a claim before any chunk exists",
    )
    key = f"{made.job.client}/{made.job.file}"
    for n in range(made.job.chunks):
        engine.aws.s3.put_object(
            Bucket=made.job.bucket, Key=f"{key}/{n}", Body=(made.spool / str(n)).read_bytes()
        )
        time.sleep(0.3)
    done = wait_for(
        lambda: (j := table.get(made.job.file)) and j.status.finished and j,
        timeout=60,
        what="the end of the job",
    )
    assert done.status is Status.COMPLETED, done.error
    assert done.results is not None
    result = json.loads(hpke.open_result(done.results, engine.key, done.file).body)
    assert result["sha256"] == made.job.sha256
    assert result["size"] == path.stat().st_size


def test_a_result_too_large_for_the_record_round_trips_through_s3(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    system.start_fetcher()
    path = tmp_path / "long text.txt"
    words = [f"w{n:06d}" for n in range(90_000)]
    samples.make_text(path, " ".join(words) + "\n")
    file_id = engine.submit(path, {})
    assert file_id
    drop = engine.wait(file_id, timeout=scaled(90))
    assert drop.phase is Phase.DONE, drop.error
    job = jobs(stack).get(file_id)
    assert job is not None and job.results is None and job.results_ref
    assert job.results_ref.startswith("s3://")
    assert drop.result_path is not None
    result = json.loads(Path(drop.result_path).read_text(encoding="utf-8"))
    assert len(json.dumps(result)) > 400_000
    assert result["analysis"]["words"] == 90_000


def test_a_job_no_fetcher_supports_stays_queued_and_visible(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    old = tmp_path / "supported.txt"
    new = tmp_path / "from the future.txt"
    samples.make_text(old, "a version the fleet supports\n")
    samples.make_text(new, "a version no fetcher supports\n")
    supported = create_job(engine.aws, engine.key, old, tmp_path / "spool")
    future = create_job(engine.aws, engine.key, new, tmp_path / "spool", version="9.0.0")
    upload_chunks(engine.aws, supported)
    upload_chunks(engine.aws, future)
    system.start_fetcher(supported_versions=">=0.1.0 <1.0.0")
    table = jobs(stack)
    try:
        wait_for(
            lambda: (j := table.get(supported.job.file)) and j.status is Status.COMPLETED,
            what="the supported job",
        )
        time.sleep(2.0)  # several more polls of the index
        waiting = table.get(future.job.file)
        assert waiting is not None and waiting.status is Status.QUEUED
        assert waiting.attempts == 0 and waiting.holder is None
    finally:
        table.dynamodb.delete_item(TableName=table.table, Key={"file": {"S": future.job.file}})


class SlowProcessor(Loopback):
    """An analysis container that takes ``seconds`` to answer and reports 42 % meanwhile.

    With ``shared_dir`` it reads the file named by ``X-Fpw-Path`` from that
    folder (the shared-volume hand-off) and answers with its SHA-256.
    """

    def __init__(self, seconds: float, shared_dir: Path | None = None) -> None:
        self.calls = 0
        self.bodies: list[int] = []
        outer = self

        class Handler(Quiet):
            def do_GET(self) -> None:
                progress = self.path.startswith("/progress/")
                self.answer(b'{"progress": 42}' if progress else b'{"status": "ok"}')

            def do_POST(self) -> None:
                outer.calls += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.bodies.append(len(body))
                digest = ""
                if shared_dir is not None:
                    name = Path(self.headers["X-Fpw-Path"]).name
                    digest = hashlib.sha256((shared_dir / name).read_bytes()).hexdigest()
                time.sleep(seconds)
                self.answer(json.dumps({"sha256": digest}).encode())

        super().__init__(Handler)


@pytest.fixture
def slow_processor() -> Iterator[SlowProcessor]:
    processor = SlowProcessor(seconds=8.0)
    yield processor
    processor.close()


@pytest.mark.parametrize("grace, outcome", [(1.0, "given back"), (30.0, "finished")])
def test_a_fetcher_told_to_stop_mid_job_finishes_it_or_gives_it_back(
    stack: LocalStack,
    system: System,
    engine: Engine,
    tmp_path: Path,
    slow_processor: SlowProcessor,
    grace: float,
    outcome: str,
) -> None:
    path = tmp_path / "interrupted.txt"
    samples.make_text(path, "scale-in arrives while this is analysed\n")
    made = create_job(engine.aws, engine.key, path, tmp_path / "spool")
    upload_chunks(engine.aws, made)
    fetcher = system.start_fetcher(
        "fetcher-leaving", processor_url=slow_processor.url, shutdown_grace_seconds=grace
    )
    table = jobs(stack)
    wait_for(lambda: slow_processor.calls == 1, what="the analysis to start")
    wait_for(
        lambda: (j := table.get(made.job.file)) and j.progress == 42,
        what="the processor's progress in the record",
    )
    fetcher.signal(signal.SIGTERM)
    wait_for(lambda: not fetcher.alive(), timeout=grace + 20, what="the fetcher to exit")
    assert fetcher.proc.returncode == 0, fetcher.output()
    job = table.get(made.job.file)
    assert job is not None
    if outcome == "finished":
        assert job.status is Status.COMPLETED
        return
    assert job.status is Status.QUEUED and job.holder is None
    assert job.last_error and "shut down" in job.last_error
    # Nothing is lost: the next fetcher completes it with the real processor.
    system.start_fetcher("fetcher-next")
    done = wait_for(
        lambda: (j := table.get(made.job.file)) and j.status.finished and j,
        timeout=60,
        what="completion by the next fetcher",
    )
    assert done.status is Status.COMPLETED and done.attempts == job.attempts + 1


def test_a_fetcher_hands_a_file_over_by_path_on_a_shared_volume(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    shared = tmp_path / "shared volume"
    processor = SlowProcessor(seconds=0.0, shared_dir=shared)
    try:
        path = tmp_path / "big scan.txt"
        samples.make_text(path, "handed over on a shared volume\n" * 1000)
        made = create_job(engine.aws, engine.key, path, tmp_path / "spool")
        upload_chunks(engine.aws, made)
        system.start_fetcher(processor_url=processor.url, processor_shared_dir=str(shared))
        table = jobs(stack)
        done = wait_for(
            lambda: (j := table.get(made.job.file)) and j.status.finished and j,
            what="completion",
        )
        assert done.status is Status.COMPLETED and done.results is not None
        answer = json.loads(hpke.open_result(done.results, engine.key, done.file).body)
        assert answer["sha256"] == made.job.sha256
        assert processor.bodies == [0], "the file must not travel through HTTP"
        # The merged file goes once the result is written back; only the
        # running fetcher's lock stays (fetcher.scratch).
        wait_for(lambda: not list(shared.glob("*.data")), timeout=10, what="the merged file gone")
    finally:
        processor.close()


def test_a_hint_for_a_job_this_fetcher_already_holds_is_not_claimed_again(
    stack: LocalStack, engine: Engine, tmp_path: Path
) -> None:
    """A job claimed from the index is often announced by the stream just after. Claimed
    again without reading it first, the claim's refusal would read as the lost answer of
    our own claim, and the job would run twice at once."""
    settings = Settings()
    settings.aws = stack.role_settings("fetcher")
    settings.fetcher.work_dir = tmp_path / "work"
    settings.fetcher.fleet_key_file = local_key_file(stack, tmp_path)
    aws = Aws(settings.aws, "test-held-hint")
    fetcher = Fetcher(settings, aws, holder=f"processor-held-{uuid.uuid4()}")
    path = tmp_path / "held.txt"
    samples.make_text(path, "claimed from the index, then announced\n")
    job = create_job(engine.aws, engine.key, path, tmp_path / "spool").job
    claim = fetcher.claimer.claim(job.file)  # as from the index
    assert claim is not None, "another fetcher took the job"
    fetcher.held[job.file] = claim
    try:
        lease = StreamLease(fetcher.table, fetcher.holder, slots=1, seconds=30.0)
        fetcher.hints = StreamHints(lease, None, "unused", poll_seconds=0.5)
        fetcher.hints.hints.put(Hint(job.file, job.version, job.size))
        place = fetcher.feed.place(timeout=1.0)
        assert place is not None
        assert fetcher._idle(5.0, place) is None
        assert fetcher.hints.hints.empty()
        record = jobs(stack).get(job.file)
        assert record is not None and record.attempts == 1
    finally:
        fetcher.fences.release(claim, "the test is over")
