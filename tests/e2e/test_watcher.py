"""The watcher on the local stack: deletion after delivery, expiry, stalled and
doomed jobs, orphans, metrics, alerts, two watchers at once, and ``fpw check``.

Each test has a deployment of its own (tests/e2e/conftest.py): a sweep acts on
everything in the table and the bucket, so what it finds, and how long it
spends on it, is this test's doing alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from client.engine import Engine
from client.state import Phase
from infra.local.stack import LocalStack
from infra.local.up import System
from shared import receipts, transitions
from shared.aws import Aws
from shared.config import Settings
from shared.record import SWEEP, Job, Status, chunk_key, chunk_prefix, iso, sweep_shards, utc_now
from shared.table import SWEEP_INDEX, JobTable
from tests import samples
from tests.helpers import run_fpw, scaled, wait_for
from tests.jobs import create_job, upload_chunks
from tests.loopback import Loopback, Quiet
from watcher.alerts import ALERT_PREFIX
from watcher.decisions import RETIRE_AFTER
from watcher.ops import collect
from watcher.sweep import MIN_RECEIPTS, Sweeper


def admin(stack: LocalStack) -> Aws:
    return Aws(stack.admin_settings(), "test-admin")


def jobs(stack: LocalStack) -> JobTable:
    aws = admin(stack)
    return JobTable(aws.dynamodb, aws.settings.table)


def keys(stack: LocalStack, prefix: str) -> list[str]:
    aws = admin(stack)
    answer = aws.s3.list_objects_v2(Bucket=aws.settings.bucket, Prefix=prefix)
    return [o["Key"] for o in answer.get("Contents", [])]


def watcher_settings(stack: LocalStack, **watcher: object) -> Settings:
    settings = Settings()
    settings.aws = stack.role_settings("watcher")
    for name, value in watcher.items():
        setattr(settings.watcher, name, value)
    return settings


def sweeper(stack: LocalStack, **watcher: object) -> Sweeper:
    settings = watcher_settings(stack, **watcher)
    return Sweeper(settings, Aws(settings.aws, "test-watcher"))


def test_a_delivered_result_and_its_data_are_deleted_after_the_receipt(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    # Large enough that the result lives in S3: both kinds of storage are covered.
    system.start_fetcher()
    path = tmp_path / "delivered.txt"
    samples.make_text(path, " ".join(f"w{n:06d}" for n in range(60_000)))
    file_id = engine.submit(path, {})
    assert file_id
    drop = engine.wait(file_id, timeout=scaled(90))
    assert drop.phase is Phase.DONE, drop.error
    job = jobs(stack).get(file_id)
    assert job is not None and job.results_ref
    receipt = receipts.receipt_key(engine.client_id, file_id)
    assert keys(stack, receipt) == [receipt]

    report = sweeper(stack).sweep(utc_now())
    assert file_id in report.delivered
    after = jobs(stack).get(file_id)
    assert after is not None and after.delivered and after.results is None
    assert after.results_ref is None
    assert not keys(stack, receipt)
    assert not keys(stack, f"results/{engine.client_id}/{file_id}")
    assert not keys(stack, chunk_prefix(engine.client_id, file_id))
    assert Path(str(drop.result_path)).exists(), "the copy on the desktop stays"


def test_an_uncollected_result_expires_and_a_forged_receipt_deletes_nothing(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    # The sweeps are told the time: one within the retention, one past it,
    # however long the machine takes in between.
    retention = 3600
    system.start_fetcher(result_retention_seconds=retention)
    kept, lapsed = tmp_path / "kept.txt", tmp_path / "lapsed.txt"
    samples.make_text(kept, "a result someone else claims to have received\n")
    samples.make_text(lapsed, "a result nobody collects\n")
    made = [create_job(engine.aws, engine.key, p, tmp_path / "spool") for p in (kept, lapsed)]
    for one in made:
        upload_chunks(engine.aws, one)
    table = jobs(stack)
    for one in made:
        wait_for(
            lambda f=one.job.file: (j := table.get(f)) and j.status is Status.COMPLETED,  # type: ignore[misc]
            what="completion",
        )
    target = table.get(made[0].job.file)
    assert target is not None and target.results is not None
    # A receipt signed by another key, put where the real one would go.
    intruder = ec.generate_private_key(ec.SECP256R1())
    forged = receipts.sign_receipt(
        target.file, engine.client_id, iso(utc_now()), target.results, intruder
    )
    key = receipts.receipt_key(engine.client_id, target.file)
    engine.aws.s3.put_object(Bucket=target.bucket, Key=key, Body=forged.to_bytes(), IfNoneMatch="*")
    report = sweeper(stack).sweep(utc_now())
    assert target.file not in report.delivered
    assert not keys(stack, key), "the forged receipt is discarded"
    still = table.get(target.file)
    assert still is not None and still.results == target.results

    report = sweeper(stack).sweep(utc_now() + dt.timedelta(seconds=retention + 60))
    assert {m.job.file for m in made} <= set(report.expired)
    for one in made:
        gone = table.get(one.job.file)
        assert gone is not None and gone.results is None and gone.expired


def test_a_job_that_always_kills_its_fetcher_ends_in_error_after_the_maximum_attempts(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "deadly.txt"
    samples.make_text(path, "every fetcher that takes this dies\n")
    # Chunks held back: each fetcher sits in the download when it is killed.
    made = create_job(engine.aws, engine.key, path, tmp_path / "spool")
    table = jobs(stack)
    watcher = sweeper(stack, stall_seconds=1.0, max_attempts=3)
    for attempt in (1, 2, 3):
        fetcher = system.start_fetcher(f"victim-{attempt}", chunk_wait_seconds=300)
        wait_for(
            lambda a=attempt: (j := table.get(made.job.file)) and j.attempts == a,  # type: ignore[misc]
            what=f"claim {attempt}",
        )
        fetcher.signal(signal.SIGKILL)
        time.sleep(1.5)
        report = watcher.sweep(utc_now())
        if attempt < 3:
            assert made.job.file in report.requeued
    job = table.get(made.job.file)
    assert job is not None and job.status is Status.ERROR
    assert job.error and "gave up after 3 attempts" in job.error and "stalled" in job.error


def test_orphans_are_removed_and_live_chunks_are_never_touched(
    stack: LocalStack, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "alive.txt"
    samples.make_text(path, "a job still waiting for a fetcher\n")
    live = create_job(engine.aws, engine.key, path, tmp_path / "spool")
    upload_chunks(engine.aws, live)
    aws = admin(stack)
    stray_chunk = f"{engine.client_id}/file-{uuid.uuid4()}/0"
    stray_result = f"results/{engine.client_id}/file-{uuid.uuid4()}"
    for key in (stray_chunk, stray_result):
        aws.s3.put_object(Bucket=aws.settings.bucket, Key=key, Body=b"left behind")
    report = sweeper(stack, orphan_grace_seconds=0.0).sweep(utc_now() + dt.timedelta(seconds=1))
    assert report.orphans == 2
    assert not keys(stack, stray_chunk) and not keys(stack, stray_result)
    assert len(keys(stack, chunk_prefix(live.job.client, live.job.file))) == live.job.chunks
    # A young object without a job may be an upload in flight: it stays.
    aws.s3.put_object(Bucket=aws.settings.bucket, Key=stray_chunk, Body=b"just now")
    sweeper(stack).sweep(utc_now())
    assert keys(stack, stray_chunk)


def test_a_finished_jobs_leftover_chunks_go_and_a_sweep_lists_the_bucket_not_each_job(
    stack: LocalStack, engine: Engine, tmp_path: Path
) -> None:
    """Finished records stay for the whole retention: a sweep that listed each
    one's chunks would cost a LIST per record per sweep."""
    table = jobs(stack)
    ended = []
    for n in range(6):
        path = tmp_path / f"given up {n}.txt"
        samples.make_text(path, f"a job that ended with its chunks still stored {n}\n" * 50)
        made = create_job(engine.aws, engine.key, path, tmp_path / "spool")
        upload_chunks(engine.aws, made)
        table.apply(
            made.job.file,
            transitions.fail_queued(made.job.created, iso(utc_now()), "given up", 2**31),
        )
        ended.append(made.job)
    one = sweeper(stack)
    lists: list[str] = []
    one.aws.s3.meta.events.register(
        "before-call.s3.ListObjectsV2",
        lambda params, **_: lists.append(str(params.get("Prefix", ""))),
    )
    report = one.sweep(utc_now())
    for job in ended:
        assert not keys(stack, chunk_prefix(job.client, job.file)), job.file
    assert report.cleaned_objects == sum(job.chunks for job in ended)
    finished = sum(1 for job in table.scan() if job.status.finished)
    assert finished == len(ended)
    # One pass over the bucket (a page per 1,000 objects) and one over the
    # receipts, however many finished records the table holds.
    assert len(lists) <= 4 < finished, lists


def in_sweep_index(stack: LocalStack, file_id: str) -> bool:
    table = jobs(stack)
    return any(file_id in table.listed(SWEEP_INDEX, SWEEP, shard) for shard in sweep_shards())


def test_sweeps_after_the_first_read_the_indexes_and_still_do_every_part_of_the_job(
    stack: LocalStack, engine: Engine, tmp_path: Path
) -> None:
    """The first sweep reads the whole table; later ones read only the queue and
    sweep indexes (no Scan), whose size follows the jobs in flight, and still
    requeue a stalled job, delete a finished job's leftovers (also once it has
    left the index), leave live chunks alone and retire what is done with."""
    table = jobs(stack)
    fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
    fetcher_table = JobTable(fetcher.dynamodb, fetcher.settings.table)
    one = sweeper(stack, stall_seconds=1.0)
    assert one.sweep(utc_now()).full
    scans: list[object] = []
    one.aws.dynamodb.meta.events.register(
        "before-call.dynamodb.Scan", lambda params, **_: scans.append(params)
    )

    def made(name: str) -> Job:
        path = tmp_path / f"{name}.txt"
        samples.make_text(path, f"a job that is {name}\n" * 20)
        hand = create_job(engine.aws, engine.key, path, tmp_path / "spool")
        upload_chunks(engine.aws, hand)
        return hand.job

    waiting, stalled, ended = made("waiting"), made("stalled"), made("ended")
    fetcher_table.apply(stalled.file, transitions.claim("processor-dead", iso(utc_now())))
    table.apply(
        ended.file, transitions.fail_queued(ended.created, iso(utc_now()), "given up", 2**31)
    )

    second = one.sweep(utc_now() + dt.timedelta(seconds=5))
    assert not second.full and not scans and not second.errors, second.errors
    assert second.requeued == [stalled.file]
    assert not keys(stack, chunk_prefix(ended.client, ended.file))
    assert second.cleaned_objects == ended.chunks and second.orphans == 0
    assert len(keys(stack, chunk_prefix(waiting.client, waiting.file))) == waiting.chunks
    assert in_sweep_index(stack, ended.file), "kept while its error counts as recent"

    later = utc_now() + RETIRE_AFTER + dt.timedelta(minutes=1)
    third = one.sweep(later)
    assert third.retired == 1 and not in_sweep_index(stack, ended.file)
    assert in_sweep_index(stack, stalled.file), "requeued, not finished: still swept"

    # A leftover of a job no index lists any more: read, judged, deleted as a leftover.
    aws = admin(stack)
    late = chunk_key(ended.client, ended.file, 0)
    aws.s3.put_object(Bucket=aws.settings.bucket, Key=late, Body=b"a late retry")
    fourth = one.sweep(later)
    assert not keys(stack, late) and fourth.cleaned_objects == 1 and fourth.orphans == 0
    assert not scans and not fourth.errors, fourth.errors
    assert len(keys(stack, chunk_prefix(waiting.client, waiting.file))) == waiting.chunks


def test_a_backlog_of_receipts_is_worked_off_over_several_sweeps_of_bounded_length(
    stack: LocalStack, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A watcher that was down finds every receipt written meanwhile; one sweep
    works on them for at most its interval, so stalled jobs are not held back.

    How long a sweep takes depends on the machine; what the bound shows is that
    the first sweep stops part way through the backlog, saying so, and that
    later sweeps finish it."""
    caplog.set_level(logging.INFO, logger="watcher.sweep")
    aws = admin(stack)
    backlog = [receipts.receipt_key(engine.client_id, f"file-{uuid.uuid4()}") for _ in range(400)]
    for key in backlog:
        aws.s3.put_object(Bucket=aws.settings.bucket, Key=key, Body=b"not a receipt")

    def left() -> int:
        listed: set[str] = set()
        pages = aws.s3.get_paginator("list_objects_v2").paginate(
            Bucket=aws.settings.bucket, Prefix=receipts.receipt_key(engine.client_id, "")
        )
        for page in pages:
            listed.update(o["Key"] for o in page.get("Contents", []))
        return len(listed.intersection(backlog))

    # The budget counts from the first listed page, and every sweep handles at
    # least MIN_RECEIPTS, so even a machine too busy for the budget makes progress.
    one = sweeper(stack, interval_seconds=scaled(2.0))
    first = one.sweep(utc_now())
    assert not first.errors, first.errors
    assert 0 < left() < len(backlog), "the first sweep stops part way"
    stopped = [r for r in caplog.records if "more receipts than one sweep" in r.getMessage()]
    assert len(stopped) == 1, "the sweep stopped for want of time, and said so"

    def another() -> bool:
        before = left()
        report = one.sweep(utc_now())
        assert not report.errors, report.errors
        after = left()
        assert before - after >= min(MIN_RECEIPTS, before), "each sweep makes progress"
        return after == 0

    # However slow the machine, later sweeps take the rest, none of them twice.
    wait_for(another, timeout=120, interval=0, what="later sweeps working off the rest")


class Webhook(Loopback):
    """A chat webhook on loopback that keeps what it was sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        outer = self

        class Handler(Quiet):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.messages.append(json.loads(body))
                self.answer(b"", status=204)

        super().__init__(Handler)
        self.url += "/hook"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def queued_now(stack: LocalStack) -> int:
    settings = watcher_settings(stack)
    return collect(jobs(stack), settings, utc_now()).queued


def test_two_watchers_at_once_act_on_each_job_once_and_alert_once(
    stack: LocalStack, engine: Engine, tmp_path: Path, webhook: Webhook
) -> None:
    aws = admin(stack)
    for name in ("queue-depth", "queue-age", "errors"):
        aws.dynamodb.delete_item(
            TableName=aws.settings.table, Key={"file": {"S": ALERT_PREFIX + name}}
        )
    fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
    fetcher_table = JobTable(fetcher.dynamodb, fetcher.settings.table)
    stalled = []
    for n in range(8):
        path = tmp_path / f"stalled-{n}.txt"
        samples.make_text(path, f"held by a fetcher that died {n}\n")
        made = create_job(engine.aws, engine.key, path, tmp_path / "spool")
        fetcher_table.apply(made.job.file, transitions.claim("processor-dead", iso(utc_now())))
        stalled.append(made.job.file)
    time.sleep(1.2)
    assert queued_now(stack) == 0
    options = {
        "stall_seconds": 1.0,
        # Reached once the stalled jobs are requeued.
        "alert_queue_depth": len(stalled),
        # Only the queue's depth is in play.
        "alert_errors": 10**6,
        "alert_oldest_seconds": 10.0**9,
        "webhook_url": webhook.url,
        "alert_topic_arn": stack.outputs["AlertTopicArn"],
    }
    pair = [sweeper(stack, **options), sweeper(stack, **options)]
    start = threading.Barrier(2)
    reports = []

    def sweep(one: Sweeper) -> None:
        start.wait()
        reports.append(one.sweep(utc_now()))

    threads = [threading.Thread(target=sweep, args=(one,)) for one in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        first, second = (set(r.requeued) & set(stalled) for r in reports)
        assert first | second == set(stalled) and not first & second
        for file_id in stalled:
            job = jobs(stack).get(file_id)
            assert job is not None and job.status is Status.QUEUED and job.attempts == 1
        # The queue now reaches the threshold: whichever sweep saw it alerts, once.
        for one in pair:
            one.sweep(utc_now())
        firing = [m for m in webhook.messages if m["state"] == "firing"]
        assert [m["alert"] for m in firing] == ["queue-depth"]
        assert all(not r.errors for r in reports), [r.errors for r in reports]
    finally:
        for file_id in stalled:
            aws.dynamodb.delete_item(TableName=aws.settings.table, Key={"file": {"S": file_id}})
    pair[0].sweep(utc_now())
    cleared = [m for m in webhook.messages if m["state"] == "ok"]
    assert [m["alert"] for m in cleared] == ["queue-depth"]
    assert "queued" in str(cleared[0]["detail"])


def test_the_watcher_publishes_the_queue_metrics(stack: LocalStack) -> None:
    deployment = stack.outputs["Deployment"]
    sweeper(stack, deployment=deployment).sweep(utc_now())
    cloudwatch = admin(stack).client("cloudwatch")
    listed = cloudwatch.list_metrics(
        Namespace="FPW", Dimensions=[{"Name": "Deployment", "Value": deployment}]
    )["Metrics"]
    assert {m["MetricName"] for m in listed} == {
        "QueueDepth",
        "OldestQueuedAgeSeconds",
        "JobsInFlight",
        "CompletedPerMinute",
        "ErrorsPerMinute",
    }


def test_fpw_check_returns_each_of_its_four_states(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "waiting.txt"
    samples.make_text(path, "queued for a version no fetcher runs\n")
    made = create_job(engine.aws, engine.key, path, tmp_path / "spool", version="9.0.0")
    config = system.config_file("watcher")
    lax = ["--age", "1e9", "1e9", "--stalled", "1e9", "1e9", "--errors", "1e9", "1e9"]
    assert queued_now(stack) == 1, made.job.file
    ok = run_fpw(config, "check", "--queue", "1e9", "1e9", *lax)
    warning = run_fpw(config, "check", "--queue", "1", "1e9", *lax)
    critical = run_fpw(config, "check", "--queue", "1", "1", *lax)
    nowhere = tmp_path / "nowhere.toml"
    nowhere.write_text(
        config.read_text(encoding="utf-8").replace(stack.endpoint, "http://127.0.0.1:9"),
        encoding="utf-8",
    )
    unknown = run_fpw(nowhere, "check")
    for result, code, word in (
        (ok, 0, "OK"),
        (warning, 1, "WARNING"),
        (critical, 2, "CRITICAL"),
        (unknown, 3, "UNKNOWN"),
    ):
        assert result.returncode == code, result.stdout + result.stderr
        assert result.stdout.startswith(f"FPW {word} - "), result.stdout
        assert len(result.stdout.strip().splitlines()) == 1
    assert "queued=" in ok.stdout and "|" in ok.stdout


def test_fpw_status_shows_the_queue_the_fleet_and_recent_errors(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    system.start_fetcher("fetcher-status", supported_versions=">=0.1.0 <1.0.0")
    path = tmp_path / "future.txt"
    samples.make_text(path, "a version no fetcher runs\n")
    create_job(engine.aws, engine.key, path, tmp_path / "spool", version="9.0.0")
    config = system.config_file("watcher")
    page = wait_for(
        lambda: (
            (r := run_fpw(config, "status")).returncode == 0
            and "no running fetcher supports" in r.stdout
            and "9.0.0" in r.stdout
            and r.stdout
        ),
        timeout=60,
        what="status listing the fetcher and the unsupported job",
    )
    assert "queued jobs no running fetcher supports (1)" in page
    assert "QUEUED" in page and "errors in the last hour" in page
    assert "no running fetcher supports" in page and ">=0.1.0 <1.0.0" in page
