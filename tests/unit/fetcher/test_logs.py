"""The fetcher's container logs: one JSON object per line with the job, a client
prefix, the phase and durations; never a key or a full client id."""

from __future__ import annotations

import json
import logging

from cryptography.hazmat.primitives.asymmetric import ec

from fetcher.claims import Claim
from shared import signing
from shared.logs import JsonFormatter
from shared.record import Job


def test_a_completion_line_names_the_job_phase_and_durations_but_not_the_client_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    client = signing.client_id(key.public_key())
    job = Job(
        file="file-00000000-0000-4000-8000-000000000000",
        client=client,
        version="0.1.0",
        created="2026-11-23T00:00:00.000Z",
        bucket="b",
        chunks=1,
        size=3,
        sha256="0" * 64,
        chunk_sha256=["0" * 64],
        attempts=2,
    )
    claim = Claim(job, "processor-x")
    with claim.timed("download"):
        pass
    record = logging.LogRecord(
        "fetcher.pipeline", logging.INFO, __file__, 1, "completed %s", (job.file,), None
    )
    for name, value in claim.extra(durations_ms=claim.durations_ms).items():
        setattr(record, name, value)
    line = json.loads(JsonFormatter().format(record))
    assert line["job"] == job.file and line["phase"] == "download" and line["attempt"] == 2
    assert "download" in line["durations_ms"]
    assert client.startswith(line["client"]) and len(line["client"]) < 20
    assert client not in json.dumps(line)
