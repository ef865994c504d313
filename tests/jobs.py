"""Building jobs by hand from the real parts (staging, signing, the jobs table),
for tests that need a job the normal client would never produce: forged,
tampered, from an unknown key, or with its upload held back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from client.staging import stage
from infra.local.stack import LocalStack
from shared import __version__, signing
from shared.aws import Aws
from shared.record import (
    Job,
    chunk_key,
    new_file_id,
)
from shared.table import JobTable
from tests.helpers import wait_for


@dataclass
class HandMade:
    job: Job
    spool: Path


def create_job(
    aws: Aws,
    key: ec.EllipticCurvePrivateKey,
    path: Path,
    spool: Path,
    *,
    signer: ec.EllipticCurvePrivateKey | None = None,
    chunk_size: int = 8 * 1024 * 1024,
    version: str = __version__,
    backlog: int = 0,
    params: dict[str, Any] | None = None,
    lies: dict[str, Any] | None = None,
) -> HandMade:
    """Stage ``path``, sign (with ``signer`` if given, to forge) and create the record.

    ``lies`` replaces signed fields before signing: a job its own client
    signed but whose fields do not describe the chunks (a buggy or rogue client).
    """
    file_id = new_file_id()
    staged = stage(path, spool / file_id, chunk_size, 3)
    job = staged.job(
        file_id,
        signing.client_id(key.public_key()),
        aws.settings.bucket,
        aws.settings.queue_shards,
        backlog,
        dict(params or {}),
        version,
    )
    for name, value in (lies or {}).items():
        setattr(job, name, value)
    signing.sign_job(job, signer or key)
    JobTable(aws.dynamodb, aws.settings.table).create(job)
    return HandMade(job, spool / file_id)


def upload_chunks(aws: Aws, made: HandMade, replace: dict[int, bytes] | None = None) -> None:
    """Upload the staged chunks, or other bytes in their place (``replace``)."""
    for n in range(made.job.chunks):
        data = (replace or {}).get(n) or (made.spool / str(n)).read_bytes()
        aws.s3.put_object(
            Bucket=made.job.bucket, Key=chunk_key(made.job.client, made.job.file, n), Body=data
        )


def ended(stack: LocalStack, file_id: str, timeout: float = 60) -> Job:
    """The job once it is COMPLETED or ERROR, read with admin credentials."""
    aws = Aws(stack.admin_settings(), "test-admin")
    table = JobTable(aws.dynamodb, aws.settings.table)
    return wait_for(
        lambda: (j := table.get(file_id)) and j.status.finished and j,
        timeout=timeout,
        what=f"{file_id} to end",
    )
