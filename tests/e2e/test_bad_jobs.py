"""Jobs that must never reach the processor: each ends as ERROR with a clear reason.

Changed bytes in records, chunks and results, and replays, are in test_tamper.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from client.engine import Engine
from infra.local.stack import LocalStack
from infra.local.up import System
from shared.aws import Aws
from shared.record import Job, Status, iso, to_item, utc_now
from tests import samples
from tests.helpers import scaled, wait_for
from tests.jobs import create_job, ended, upload_chunks


def test_forged_and_unregistered_jobs_end_in_error_without_the_processor(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "payload.txt"
    samples.make_text(path, "the processor must never see this\n")
    spool = tmp_path / "spool"

    # Signed by a key other than the one the job names.
    forged = create_job(
        engine.aws, engine.key, path, spool, signer=ec.generate_private_key(ec.SECP256R1())
    )
    upload_chunks(engine.aws, forged)
    # A well-formed job from a key nobody registered.
    stranger = ec.generate_private_key(ec.SECP256R1())
    unknown = create_job(engine.aws, stranger, path, spool)
    upload_chunks(engine.aws, unknown)

    system.start_fetcher()
    reasons = {
        "forged": ended(stack, forged.job.file),
        "unknown": ended(stack, unknown.job.file),
    }
    assert all(job.status is Status.ERROR for job in reasons.values())
    assert "signature does not match" in (reasons["forged"].error or "")
    assert "is not registered" in (reasons["unknown"].error or "")
    calls = system.parts["processor"].output()
    for made in (forged, unknown):
        assert made.job.file not in calls

    # The same client's honest job still goes through.
    honest = engine.submit(path, {})
    assert honest
    assert engine.wait(honest, timeout=scaled(60)).error is None


def test_a_client_that_stops_uploading_ends_in_a_clear_error(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "never finished.txt"
    samples.make_text(path, "only the record is ever created\n")
    made = create_job(engine.aws, engine.key, path, tmp_path / "spool")
    system.start_fetcher(chunk_wait_seconds=2)
    job = ended(stack, made.job.file)
    assert job.status is Status.ERROR
    assert "never arrived" in (job.error or "")


def test_records_and_receipts_no_part_can_read_end_in_error_and_stop_no_part(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    """Anyone with a site's keys can write any item and any receipt: none of it may
    stop a fetcher or the watcher, and each unreadable record ends as ERROR."""
    table, bucket = stack.outputs["JobsTable"], stack.outputs["Bucket"]
    shard = {"S": "q0"}

    def put(whole: bool, **attrs: dict[str, object]) -> str:
        """A record written with the client role: complete but for ``attrs``, or bare."""
        file_id = f"file-{uuid.uuid4()}"
        item: dict[str, Any] = {"file": {"S": file_id}, "status": {"S": "QUEUED"}}
        if whole:
            job = Job(
                file=file_id,
                client=engine.client_id,
                version="0.1.0",
                created=iso(utc_now()),
                bucket=bucket,
                chunks=1,
                size=1,
                sha256="0" * 64,
                chunk_sha256=["0" * 64],
            )
            item = to_item(job)
        item.update(attrs)
        engine.aws.dynamodb.put_item(TableName=table, Item=item)
        return file_id

    rank = {"S": "00000000|2000-01-01T00:00:00.000Z"}
    # Claimable but missing most fields: the fetcher that claims it ends it.
    bare = put(False, queue=shard, rank=rank, version={"S": "0.1.0"})
    # Its claim cannot even count attempts: the fetcher skips it, the watcher ends it.
    odd = put(True, queue=shard, rank=rank, attempts={"S": "many"})
    # Not in the queue, with a time no part can read: the watcher ends it.
    stray = put(True, created={"S": "yesterday"})
    for key, body in (
        (f"receipts/{engine.client_id}/{bare}", b"[" * 100_000),
        (f"receipts/{engine.client_id}/{odd}", b'{"file": {"nested": true}}'),
    ):
        engine.aws.s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")

    fetcher = system.start_fetcher()
    watcher = system.start_watcher(interval_seconds=1.0)
    admin = Aws(stack.admin_settings(), "test-admin")

    def error_of(file_id: str) -> str:
        """The raw record's error once it is ERROR (it cannot be parsed as a job)."""

        def finished() -> dict[str, Any] | None:
            key = {"file": {"S": file_id}}
            item = admin.dynamodb.get_item(TableName=table, Key=key)["Item"]
            done = item.get("status") == {"S": "ERROR"} and "queue" not in item
            return dict(item) if done else None

        return str(wait_for(finished, timeout=60, what=f"{file_id} to end")["error"]["S"])

    assert "malformed job record: missing field(s)" in error_of(bare)
    assert "field 'attempts' is not a number" in error_of(odd)
    assert "is not an ISO-8601 timestamp" in error_of(stray)
    wait_for(
        lambda: (
            not admin.s3.list_objects_v2(Bucket=bucket, Prefix=f"receipts/{engine.client_id}/").get(
                "KeyCount"
            )
        ),
        what="the watcher to throw the unreadable receipts away",
    )

    path = tmp_path / "after.txt"
    samples.make_text(path, "the parts are still working\n")
    honest = engine.submit(path, {})
    assert honest
    assert engine.wait(honest, timeout=scaled(60)).error is None
    assert fetcher.alive() and watcher.alive()
