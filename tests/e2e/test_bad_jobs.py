"""Jobs that must never reach the processor: each ends as ERROR with a clear reason.

Changed bytes in records, chunks and results, and replays, are in test_tamper.py.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from client.engine import Engine
from infra.localstack import LocalStack
from infra.up import System
from shared.record import Status
from tests import samples
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
    assert engine.wait(honest, timeout=60).error is None


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
