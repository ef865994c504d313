"""Network faults between the parts and the local stack (a fault-injecting TCP
proxy, ``tests/faults.py``), and full disks: nothing is lost, nothing is done
twice, nothing stays stuck, and every failure says what to do."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.engine import Engine
from client.state import Phase
from infra.admin import register_client
from infra.local.stack import LocalStack
from infra.local.up import Part, System
from shared import transitions
from shared.aws import Aws
from shared.record import Job, Status
from shared.table import JobTable
from tests import helpers, samples
from tests.faults import (
    Direction,
    FaultProxy,
    proxied,
    small_disk,
    small_disks_unavailable,
    through_proc,
)
from tests.helpers import scaled, wait_for
from tests.ledger import RecordingProcessor, admin, chunks_left, completions


@pytest.fixture
def recorder() -> Iterator[RecordingProcessor]:
    processor = RecordingProcessor()
    try:
        yield processor
    finally:
        processor.close()


@pytest.fixture
def proxy(stack: LocalStack) -> Iterator[FaultProxy]:
    with FaultProxy(stack.endpoint, seed=int(os.environ.get("FAULTS_SEED", "7"))) as proxy:
        yield proxy


@pytest.fixture
def behind(
    stack: LocalStack, proxy: FaultProxy, recorder: RecordingProcessor, tmp_path: Path
) -> Iterator[System]:
    """Parts whose every AWS call goes through the proxy, with the recording processor."""
    system = System(proxied(stack, proxy), tmp_path / "behind-proxy")
    system.processor_url = recorder.url
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture
def direct(stack: LocalStack, recorder: RecordingProcessor, tmp_path: Path) -> Iterator[System]:
    """Parts that reach the stack directly, with the recording processor."""
    system = System(stack, tmp_path / "direct")
    system.processor_url = recorder.url
    try:
        yield system
    finally:
        system.stop()


def table(stack: LocalStack) -> JobTable:
    aws = admin(stack)
    return JobTable(aws.dynamodb, aws.settings.table)


def finished(engine: Engine, file_id: str, timeout: float) -> Path:
    """Wait for the drop's result; returns the decrypted result file."""
    drop = engine.wait(file_id, timeout=scaled(timeout))
    assert drop.phase is Phase.DONE, drop.error
    assert drop.result_path is not None
    return drop.result_path


def result_of(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_a_lost_answer_to_a_claim_or_to_a_write_back_is_neither_stuck_nor_done_twice(
    stack: LocalStack,
    behind: System,
    proxy: FaultProxy,
    recorder: RecordingProcessor,
    engine: Engine,
    tmp_path: Path,
) -> None:
    # No watcher runs: a job stuck after a lost answer would stay stuck.
    fetcher = behind.start_fetcher("fetcher-cut", heartbeat_seconds=0.5)
    cases = {
        "claim": transitions.IS_QUEUED_AND_FREE.encode(),
        "write-back": b"#status = :completed",
    }
    for name, pattern in cases.items():
        path = tmp_path / f"{name}.txt"
        samples.make_text(path, f"the answer to the {name} is lost\n" * 50)
        proxy.cut_response(pattern)
        file_id = engine.submit(path, {})
        assert file_id
        result = result_of(finished(engine, file_id, timeout=45))
        assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert proxy.cuts_pending() == 0, f"the {name} went through the proxy"
        job = table(stack).get(file_id)
        assert job is not None and job.status is Status.COMPLETED
        assert job.attempts == 1, f"the lost {name} answer cost a claim: {job.last_error}"
        assert recorder.calls[file_id] == 1
        assert completions(stack, [file_id])[file_id] == 1
        # The fetcher knew the job was done and cleaned up itself.
        wait_for(lambda f=file_id: not chunks_left(stack, engine.client_id, [f]), timeout=10)  # type: ignore[misc]
    assert proxy.stats.cut_responses == 2
    assert "to another holder" not in fetcher.output()


def test_an_upload_through_resets_and_a_dropped_network_resumes_as_one_job(
    stack: LocalStack,
    direct: System,
    proxy: FaultProxy,
    recorder: RecordingProcessor,
    tmp_path: Path,
) -> None:
    settings = helpers.client_settings(proxied(stack, proxy), tmp_path / "desktop")
    settings.client.chunk_size = 64 * 1024
    settings.client.upload_concurrency = 2
    engine = Engine(settings, Aws(settings.aws, "test-client"))
    register_client(stack.admin_settings(), engine.client_id, "client behind a bad network")
    direct.start_fetcher("fetcher-direct")
    path = tmp_path / "long recording.csv"
    rows = (f"{n},{os.urandom(24).hex()}\n" for n in range(30_000))
    path.write_text("".join(rows), encoding="utf-8")  # about 1.7 MiB: 27 chunks
    try:
        proxy.delay(0.03)  # a slow link, so that the faults meet the upload midway
        # The job's creation succeeds, but its answer is lost.
        proxy.cut_response(b"attribute_not_exists(#file)")
        file_id = engine.submit(path, {})
        assert file_id
        chunks = wait_for(
            lambda: (d := engine.state.get(file_id)) and d.job and d.job.chunks,
            what="the job's staging",
        )
        assert chunks > 20
        wait_for(lambda: len(engine.state.confirmed_chunks(file_id)) >= 4, what="some chunks up")
        # Every connection is cut mid-request for a while, then the link goes dead.
        proxy.reset(after=(0, 24_000), direction=Direction.UP)
        time.sleep(3)
        before_drop = len(engine.state.confirmed_chunks(file_id))
        proxy.drop()
        time.sleep(5)
        proxy.pass_through()
        result = result_of(finished(engine, file_id, timeout=150))
    finally:
        engine.stop()
    assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert before_drop < chunks, "the faults met the upload midway"
    assert proxy.stats.cut_responses == 1 and proxy.stats.resets > 0 and proxy.stats.stalled > 0
    mine = list(table(stack).of_client(engine.client_id))
    assert [j.file for j in mine] == [file_id], "one drop, one job"
    assert recorder.calls[file_id] == 1
    print(f"upload through faults: {proxy.stats}")


def confirmed_chunks(state_dir: Path) -> int:
    """Chunks a client process has confirmed, read from its state database."""
    db = state_dir / "state.db"
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM uploaded").fetchone()[0])
        except sqlite3.OperationalError:
            return 0  # the client is creating it


def test_a_client_killed_while_its_network_is_down_resumes_the_upload_as_one_job(
    stack: LocalStack,
    behind: System,
    direct: System,
    proxy: FaultProxy,
    recorder: RecordingProcessor,
    tmp_path: Path,
) -> None:
    inbox, state_dir = tmp_path / "inbox", tmp_path / "client-state"
    config = behind.client_config(inbox, state_dir, chunk_size=64 * 1024, upload_concurrency=2)
    me = behind.register_client(state_dir)
    client = behind.start_client(config)
    staged = tmp_path / "recording.csv"
    staged.write_text(
        "".join(f"{n},{os.urandom(24).hex()}\n" for n in range(30_000)), encoding="utf-8"
    )
    proxy.delay(0.03)
    inbox.mkdir(exist_ok=True)
    staged.rename(inbox / staged.name)
    wait_for(lambda: confirmed_chunks(state_dir) >= 4, timeout=60, what="some chunks up")
    proxy.drop()
    time.sleep(1)
    client.kill()  # the laptop's battery dies while the network is down
    halfway = confirmed_chunks(state_dir)
    proxy.pass_through()
    client = behind.start_client(config)
    # The restarted client finds the file in the inbox and knows it for the drop in
    # flight, not a new file. No fetcher runs until it has said so: the job cannot be
    # done (and the original moved away) before the folder's rescan looks.
    wait_for(
        lambda: "already being processed" in client.output() or not client.alive(),
        timeout=60,
        what="the restarted client to see the drop in flight",
    )
    direct.start_fetcher("fetcher-direct")
    original = inbox / "done" / staged.name
    (result,) = wait_for(
        lambda: (
            (original.exists() and list((inbox / "results").glob("recording.csv.result.*")))
            or (not client.alive() and "client died")
        ),
        timeout=90,
        what="the result and the original moved to done/",
    )
    assert client.alive(), client.output()
    data = result_of(result)
    assert data["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
    assert 4 <= halfway < 20, "the client died midway through the upload"
    (job,) = table(stack).of_client(me)
    assert recorder.calls[job.file] == 1


def test_fetchers_behind_a_flaky_network_complete_every_job_exactly_once(
    stack: LocalStack,
    behind: System,
    direct: System,
    proxy: FaultProxy,
    recorder: RecordingProcessor,
    engine: Engine,
    tmp_path: Path,
) -> None:
    count = int(os.environ.get("FAULTS_JOBS", "30"))
    # Random delays, and one connection in six cut at a random byte in either
    # direction: requests lost on the way up, answers lost on the way down.
    proxy.flaky(delay=(0.0, 0.01), reset_probability=0.15, reset_after=(0, 6000))
    for n in range(3):
        behind.start_fetcher(f"flaky-{n}", heartbeat_seconds=0.5)
    direct.start_watcher(stall_seconds=4.0, interval_seconds=1.0)
    originals: dict[str, str] = {}
    for n in range(count):
        path = tmp_path / "files" / f"sample {n:03}.txt"
        path.parent.mkdir(exist_ok=True)
        samples.make_text(path, f"sample {n}\n" * (1 + n * 40))
        file_id = engine.submit(path, {})
        assert file_id
        originals[file_id] = hashlib.sha256(path.read_bytes()).hexdigest()
    for file_id, digest in originals.items():
        assert result_of(finished(engine, file_id, timeout=120))["sha256"] == digest
    jobs = {f: table(stack).get(f) for f in originals}
    attempts = {f: j.attempts for f, j in jobs.items() if j is not None}
    assert all(j is not None and j.status is Status.COMPLETED for j in jobs.values())
    written = completions(stack, originals)
    assert all(written[f] == 1 for f in originals), written
    assert all(1 <= recorder.calls[f] <= attempts[f] for f in originals), (recorder.calls, attempts)
    wait_for(lambda: not chunks_left(stack, engine.client_id, originals), timeout=20)
    assert proxy.stats.resets > 0
    retries = sum(a - 1 for a in attempts.values())
    print(f"flaky network: jobs={count} retries={retries} {proxy.stats}")


def test_a_holder_cut_off_mid_job_loses_it_to_a_retry_and_its_late_write_back_is_refused(
    stack: LocalStack,
    behind: System,
    direct: System,
    proxy: FaultProxy,
    recorder: RecordingProcessor,
    engine: Engine,
    tmp_path: Path,
) -> None:
    recorder.seconds = 3.0
    cut_off = behind.start_fetcher("cut-off", heartbeat_seconds=0.5)
    path = tmp_path / "report.txt"
    samples.make_text(path, "a report analysed twice, delivered once\n" * 100)
    file_id = engine.submit(path, {})
    assert file_id
    wait_for(lambda: recorder.calls[file_id] == 1, what="the first holder at work")
    proxy.drop()  # its heartbeats and its write-back now wait in the dead link
    direct.start_fetcher("rescuer", heartbeat_seconds=0.5)
    direct.start_watcher(stall_seconds=2.0, interval_seconds=0.5)
    result = result_of(finished(engine, file_id, timeout=60))
    # Delivery removes the result from the record; read it once that has happened, so
    # that what follows compares like with like.
    job = wait_for(lambda: receipted(stack, file_id), what="the receipt")
    assert job.status is Status.COMPLETED and job.attempts == 2
    proxy.pass_through()  # the late write-back reaches the table now
    wait_for(lambda: "lost" in cut_off.output(), timeout=45, what="the first holder giving up")
    assert proxy.stats.stalled > 0
    assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    after = table(stack).get(file_id)
    assert after == job, "the late write-back changed nothing, nor brought the result back"
    assert recorder.calls[file_id] == 2, "a retry, not a duplicate"
    assert completions(stack, [file_id])[file_id] == 1
    assert len(list((tmp_path / "client" / "inbox" / "results").glob("*.result.*"))) == 1
    assert cut_off.alive()


def receipted(stack: LocalStack, file_id: str) -> Job | None:
    """The job's record once its client has confirmed receipt."""
    job = table(stack).get(file_id)
    return job if job is not None and job.delivered else None


# -- full disks ---------------------------------------------------------------

MiB = 1024 * 1024


@pytest.fixture
def small_disks(tmp_path: Path) -> None:
    """Skip, saying why, where user namespaces are disabled; fail where ``unshare`` is
    missing (a test machine without util-linux is broken, not exempt)."""
    reason = small_disks_unavailable(tmp_path / "probe")
    if reason is not None:
        pytest.skip(reason)


def fill(pid: int, mount: Path, leave: int) -> Path:
    """Fill a part's small disk until ``leave`` bytes are free; returns the ballast file."""
    root = through_proc(pid, mount)
    ballast = root / "ballast"
    ballast.write_bytes(b"\0" * max(0, shutil.disk_usage(root).free - leave))
    return ballast


def started(part: Part, word: str) -> None:
    wait_for(lambda: word in part.output() or not part.alive(), what=f"{part.name} at work")
    assert part.alive(), part.output()


def read_state(client: Part, state_dir: Path) -> sqlite3.Connection:
    """A copy of the state database on a client's small disk, opened in memory (SQLite
    resolves ``/proc/<pid>/root`` to ``/``, so it cannot open the file in place)."""
    copy = sqlite3.connect(":memory:")
    for suffix in ("", "-wal"):
        source = through_proc(client.proc.pid, state_dir / f"state.db{suffix}")
        if source.exists():
            (state_dir.parent / f"state-copy.db{suffix}").write_bytes(source.read_bytes())
    with contextlib.closing(sqlite3.connect(state_dir.parent / "state-copy.db")) as disk:
        disk.backup(copy)
    return copy


def line_with(part: Part, text: str) -> str:
    return next(line for line in part.output().splitlines() if text in line)


def test_a_client_with_a_full_disk_keeps_the_file_says_why_and_sends_it_once_there_is_room(
    stack: LocalStack,
    direct: System,
    recorder: RecordingProcessor,
    small_disks: None,
    tmp_path: Path,
) -> None:
    inbox, state_dir, seed = tmp_path / "inbox", tmp_path / "state", tmp_path / "seed"
    me = direct.register_client(seed)  # the key, copied onto the small disk at start
    config = direct.client_config(inbox, state_dir, stable_seconds=0.3)
    direct.start_fetcher("fetcher-direct")
    client = direct.start_client(config, prefix=small_disk(state_dir, 4 * MiB, seed=seed))
    started(client, "client id")
    ballast = fill(client.proc.pid, state_dir, leave=1 * MiB)
    inbox.mkdir(exist_ok=True)
    big, small = tmp_path / "scan.bin", tmp_path / "note.txt"
    big.write_bytes(os.urandom(2 * MiB))  # incompressible: 2 MiB of chunks to stage
    samples.make_text(small, "a small file goes through meanwhile\n")
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (big, small)}
    big.rename(inbox / big.name)
    wait_for(lambda: "no space left" in client.output(), what="the client saying why")
    said = line_with(client, "no space left")
    assert f"{state_dir / 'spool'} for the chunks of scan.bin" in said
    # The free room is measured once the half-staged chunks are gone: about 1 MiB.
    free = re.search(r"needs up to 2\.0 MiB, (\d+\.\d) KiB free", said)
    assert free and 512 < float(free[1]) < 1024, said
    assert "set client.state_dir to a larger disk" in said

    small.rename(inbox / small.name)
    results = inbox / "results"
    wait_for(lambda: (results / "note.txt.result.json").exists(), what="the small file's result")
    assert (inbox / "scan.bin").exists(), "the big file waits in the folder"
    (only,) = table(stack).of_client(me)
    assert recorder.calls[only.file] == 1
    spool = through_proc(client.proc.pid, state_dir / "spool")
    assert not [p for p in spool.rglob("*") if p.is_file()], "no half-staged chunks"
    (phase, error) = (
        read_state(client, state_dir)
        .execute("SELECT phase, error FROM drops WHERE name = 'scan.bin'")
        .fetchone()
    )
    assert phase == Phase.STAGING.value and "no space left" in error

    ballast.unlink()  # room again
    wait_for(lambda: (results / "scan.bin.result.json").exists(), timeout=60, what="the result")
    for name, digest in digests.items():
        assert result_of(results / f"{name}.result.json")["sha256"] == digest
        assert (inbox / "done" / name).exists()
    jobs = list(table(stack).of_client(me))
    assert len(jobs) == 2 and all(recorder.calls[j.file] == 1 for j in jobs)
    assert client.alive()


def test_a_fetcher_with_a_full_disk_leaves_a_big_job_queued_and_takes_it_once_there_is_room(
    stack: LocalStack,
    direct: System,
    recorder: RecordingProcessor,
    engine: Engine,
    small_disks: None,
    tmp_path: Path,
) -> None:
    work = tmp_path / "fetcher-disk"
    fetcher = direct.start_fetcher(
        "small-disk", work_dir=str(work), prefix=small_disk(work, 4 * MiB)
    )
    started(fetcher, "started")
    ballast = fill(fetcher.proc.pid, work, leave=2 * MiB)
    big, small = tmp_path / "scan.bin", tmp_path / "note.txt"
    big.write_bytes(os.urandom(2 * MiB))  # with its margin, more than the 2 MiB free
    samples.make_text(small, "a small job goes through meanwhile\n")
    big_id = engine.submit(big, {})
    assert big_id
    wait_for(lambda: f"for job {big_id}" in fetcher.output(), what="the fetcher saying why")
    said = line_with(fetcher, f"for job {big_id}")
    assert f"no space left in {work} for job {big_id}: needs up to 3.0 MiB, 2.0 MiB free" in said
    assert "fetcher.work_dir" in said and "stays queued" in said

    small_id = engine.submit(small, {})
    assert small_id
    finished(engine, small_id, timeout=30)
    waiting = table(stack).get(big_id)
    assert waiting is not None and waiting.status is Status.QUEUED
    assert waiting.attempts == 0, "no claim was spent on a job that cannot fit"

    ballast.unlink()
    result = result_of(finished(engine, big_id, timeout=30))
    assert result["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    done = table(stack).get(big_id)
    assert done is not None and done.attempts == 1 and recorder.calls[big_id] == 1
    assert not list(through_proc(fetcher.proc.pid, work).glob("*.data")), "no merged file left"
    assert fetcher.alive()
