"""The claim condition under real concurrency: exactly one of many racing claims wins."""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from infra.admin import register_client
from infra.local.stack import LocalStack
from shared import signing, transitions
from shared.aws import Aws
from shared.errors import ClaimLost
from shared.record import iso, utc_now
from shared.table import JobTable
from tests import samples
from tests.jobs import create_job


def test_of_twenty_simultaneous_claims_exactly_one_wins(stack: LocalStack, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    register_client(stack.admin_settings(), signing.client_id(key.public_key()), "claims")
    path = tmp_path / "contended.txt"
    samples.make_text(path, "everyone wants this job\n")
    made = create_job(Aws(stack.role_settings("client"), "test-client"), key, path, tmp_path)
    fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
    table = JobTable(fetcher.dynamodb, fetcher.settings.table)
    start = threading.Barrier(20)
    winners: list[str] = []
    losers: list[str] = []

    def claim(n: int) -> None:
        start.wait()
        try:
            table.apply(made.job.file, transitions.claim(f"processor-{n}", iso(utc_now())))
            winners.append(f"processor-{n}")
        except ClaimLost:
            losers.append(f"processor-{n}")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 19
    job = table.get(made.job.file)
    assert job is not None and job.holder == winners[0] and job.attempts == 1
    admin = Aws(stack.admin_settings(), "test-admin")
    admin.dynamodb.delete_item(TableName=admin.settings.table, Key={"file": {"S": made.job.file}})
