"""The table and bucket layer against the local stack, with each part's own role:
the clients registry, the client index's summaries, the read before a claim,
a refused write's winner, and the store's answers for objects that are not there."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from infra.local.stack import LocalStack
from shared import signing, transitions
from shared.aws import Aws
from shared.clients import Clients
from shared.errors import ClaimLost
from shared.record import Status, iso, utc_now
from shared.store import Store
from shared.table import JobTable
from tests import samples
from tests.jobs import create_job


def test_the_registry_registers_revokes_and_lists_a_key(stack: LocalStack) -> None:
    admin = Aws(stack.admin_settings(), "test-admin")
    registry = Clients(admin.dynamodb, admin.settings.clients_table)
    key = signing.client_id(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert registry.get(key) is None
    assert registry.revoke(key, iso(utc_now())) is False  # not registered: nothing to revoke
    registry.register(key, "layer test", iso(utc_now()))
    registration = registry.get(key)
    assert registration is not None and registration.active and registration.label == "layer test"
    assert registry.revoke(key, iso(utc_now())) is True
    fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
    seen = Clients(fetcher.dynamodb, fetcher.settings.clients_table).get(key)
    assert seen is not None and not seen.active
    assert key in {r.client for r in registry.all()}


def test_a_clients_jobs_are_summarised_and_peeked_and_a_lost_claim_names_its_winner(
    stack: LocalStack, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    admin = Aws(stack.admin_settings(), "test-admin")
    Clients(admin.dynamodb, admin.settings.clients_table).register(
        signing.client_id(key.public_key()), "layer test", iso(utc_now())
    )
    path = tmp_path / "layer.txt"
    samples.make_text(path, "a job of its own\n")
    client = Aws(stack.role_settings("client"), "test-client")
    made = create_job(client, key, path, tmp_path)
    mine = JobTable(client.dynamodb, client.settings.table)
    try:
        [summary] = mine.summaries(made.job.client)
        assert (summary.file, summary.status) == (made.job.file, Status.QUEUED.value)
        assert mine.summaries(made.job.client, since="9999") == []
        fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
        table = JobTable(fetcher.dynamodb, fetcher.settings.table)
        peek = table.peek(made.job.file)
        assert peek is not None and peek.status == Status.QUEUED.value and peek.holder is None
        assert peek.size == made.job.size
        assert table.peek(f"file-{uuid.uuid4()}") is None
        table.apply(made.job.file, transitions.claim("processor-first", iso(utc_now())))
        with pytest.raises(ClaimLost) as lost:
            table.apply_raw(made.job.file, transitions.claim("processor-second", iso(utc_now())))
        assert lost.value.current is not None and lost.value.current.holder == "processor-first"
        assert lost.value.raw is not None and lost.value.raw["processor"] == {
            "S": "processor-first"
        }
    finally:
        admin.dynamodb.delete_item(
            TableName=admin.settings.table, Key={"file": {"S": made.job.file}}
        )


def test_the_store_answers_none_for_a_missing_object_and_keeps_a_create_only_one(
    stack: LocalStack,
) -> None:
    admin = Aws(stack.admin_settings(), "test-admin")
    store = Store(admin.s3)
    bucket = admin.settings.bucket
    prefix = f"results/client-layer-{uuid.uuid4().hex}/"
    key = f"{prefix}file-{uuid.uuid4()}"
    assert store.get(bucket, key) is None
    assert store.put(bucket, key, b"first", create_only=True) is True
    assert store.put(bucket, key, b"second", create_only=True) is False
    assert store.get(bucket, key) == b"first"
    assert store.get(bucket, key, first=2) == b"fi"
    assert [s.key for s in store.objects(bucket, prefix)] == [key]
    store.delete(bucket, key)
    store.delete(bucket, key)  # already gone: no error
    assert list(store.objects(bucket, prefix)) == []
