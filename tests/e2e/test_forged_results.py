"""Forged results, end to end: a desktop accepts only what the fleet produced
for the job it signed.

The attacker is another desktop of the site: it holds the same site key and
uses the client role, never admin keys. It reads the victim's record and
writes it back with an unconditional PutItem, COMPLETED, carrying a result
sealed to the victim's public key (HPKE base mode: anyone can seal to a
public key). moto does not evaluate the ``dynamodb:Attributes`` condition
that keeps the client role from writing results on AWS, so the write lands,
as it would wherever that condition is missing: the fleet signature is what
stops it here. Each forged result must leave no result file and no receipt,
fail its drop with a reason, and the watcher must mark nothing delivered;
honest jobs of the same desktop still complete.
"""

from __future__ import annotations

import copy
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec

from client.engine import Engine
from client.recover import recover
from client.state import Phase
from infra import fleetkey
from infra.admin import register_client
from infra.local.stack import LocalStack
from infra.local.up import System
from shared import fleet, hpke, signing
from shared.aws import Aws
from shared.receipts import receipt_key
from shared.record import Status, from_item, iso, to_value, utc_now
from tests import helpers, samples
from tests.helpers import wait_for
from tests.jobs import ended

FORGED = b'{"verdict": "benign", "summary": "nothing to see"}'


class SiteAttacker:
    """Another desktop of the victim's site: the client role, nothing more."""

    def __init__(self, stack: LocalStack) -> None:
        self.aws = Aws(stack.role_settings("client"), "test-attacker")
        self.table = self.aws.settings.table
        self.bucket = self.aws.settings.bucket

    def item(self, file_id: str) -> dict[str, Any]:
        answer = self.aws.dynamodb.get_item(
            TableName=self.table, Key={"file": {"S": file_id}}, ConsistentRead=True
        )
        return dict(answer["Item"])

    def overwrite(self, item: dict[str, Any]) -> None:
        """The unconditional PutItem a site key allows."""
        self.aws.dynamodb.put_item(TableName=self.table, Item=item)

    def completed(self, item: dict[str, Any], results: bytes) -> dict[str, Any]:
        """The victim's record, made COMPLETED with ``results`` as if a fetcher had."""
        forged = {k: v for k, v in item.items() if k != "queue"}
        forged.update(
            status={"S": Status.COMPLETED.value},
            processor={"S": f"processor-{uuid.uuid4()}"},
            attempts={"N": "1"},
            processed={"S": iso(utc_now())},
            results={"B": results},
        )
        return forged

    def sealed_to(self, client: str, file_id: str) -> bytes:
        """A result of the attacker's choosing that the victim's key opens."""
        return hpke.seal(
            hpke.Payload("application/json", FORGED),
            signing.public_key_from_client_id(client),
            file_id,
        )


@pytest.fixture
def observer(stack: LocalStack) -> Aws:
    """Admin keys, only to look (the client role cannot read receipts)."""
    return Aws(stack.admin_settings(), "test-observer")


def receipt_exists(observer: Aws, client: str, file_id: str) -> bool:
    try:
        observer.s3.head_object(Bucket=observer.settings.bucket, Key=receipt_key(client, file_id))
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


def record(observer: Aws, file_id: str) -> dict[str, Any]:
    answer = observer.dynamodb.get_item(
        TableName=observer.settings.table, Key={"file": {"S": file_id}}, ConsistentRead=True
    )
    return dict(answer["Item"])


def submit(engine: Engine, folder: Path, label: str) -> str:
    path = samples.make_text(
        folder / f"{label}.txt", f"{label}: a note to analyse, {uuid.uuid4()}\n"
    )
    file_id = engine.submit(path, {})
    assert file_id is not None
    engine.wait_uploaded(file_id, timeout=60)
    return file_id


def results_of(engine: Engine, label: str) -> list[str]:
    return sorted(p.name for p in engine.places.results.glob(f"{label}*"))


def test_forged_results_written_with_the_site_key_are_refused_and_honest_jobs_complete(
    stack: LocalStack,
    system: System,
    engine: Engine,
    observer: Aws,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    attacker = SiteAttacker(stack)
    me = engine.client_id
    files = tmp_path / "files"
    files.mkdir()

    # Genuine results first: one to replay onto another job, one whose record
    # will be altered; the fleet then stops, so the victims stay queued.
    fetcher = system.start_fetcher("fetcher-genuine")
    donor = submit(engine, files, "donor")
    altered = submit(engine, files, "altered")
    for file_id in (donor, altered):
        assert ended(stack, file_id).status is Status.COMPLETED
    fetcher.stop()

    victims = {label: submit(engine, files, label) for label in ("unsigned", "stranger", "replay")}

    # (a) A result sealed to the victim's key, with no fleet signature.
    item = attacker.item(victims["unsigned"])
    attacker.overwrite(attacker.completed(item, attacker.sealed_to(me, victims["unsigned"])))

    # (b) Signed properly, by a fleet key of the attacker's own.
    item = attacker.item(victims["stranger"])
    sealed = attacker.sealed_to(me, victims["stranger"])
    forged = attacker.completed(item, sealed)
    stranger = fleet.Signer(ec.generate_private_key(ec.SECP256R1()))
    forged["result_signature"] = to_value(stranger.sign(from_item(forged), sealed, fleet.INLINE))
    forged["fleet_key"] = to_value(stranger.key_id)
    attacker.overwrite(forged)

    # (c) A genuine, fleet-signed result of another job of this desktop.
    genuine = attacker.item(donor)
    item = attacker.item(victims["replay"])
    replayed = {k: v for k, v in item.items() if k != "queue"}
    for name in ("status", "processor", "attempts", "processed", "results"):
        replayed[name] = genuine[name]
    replayed["result_signature"] = genuine["result_signature"]
    replayed["fleet_key"] = genuine["fleet_key"]
    attacker.overwrite(replayed)

    # (d) A genuine result whose record's signed fields were changed.
    item = attacker.item(altered)
    changed = copy.deepcopy(item)
    changed["params"] = to_value({"profile": "forged"})
    attacker.overwrite(changed)

    signatures = [
        forged["result_signature"]["S"],
        genuine["result_signature"]["S"],
        item["result_signature"]["S"],
    ]
    watcher = system.start_watcher(interval_seconds=1.0)
    expect = {
        "unsigned": "result rejected: not signed by the fleet",
        "stranger": "which this computer does not accept",
        "replay": "result rejected: the fleet's signature does not match this job's result",
        "altered": "result rejected: the record's signed fields were changed (params)",
    }
    refused = {**victims, "altered": altered}
    for label, file_id in refused.items():
        drop = engine.wait(file_id, timeout=60)
        assert drop.phase is Phase.FAILED, (label, drop.phase, drop.error)
        assert expect[label] in (drop.error or ""), (label, drop.error)
        assert results_of(engine, label) == [], label
        assert not receipt_exists(observer, me, file_id), label
        assert drop.path.is_file(), f"{label}: the original must stay for a retry"

    # The donor's own result is genuine and arrives; its receipt is honoured.
    assert engine.wait(donor, timeout=60).phase is Phase.DONE
    assert len(results_of(engine, "donor")) == 1
    wait_for(
        lambda: "delivered" in record(observer, donor),
        timeout=60,
        what="the watcher to mark the donor delivered",
    )
    for label, file_id in refused.items():
        after = record(observer, file_id)
        assert "delivered" not in after, f"{label}: marked delivered without a receipt"
        assert "results" in after, f"{label}: the result was deleted as delivered"
    watcher.stop()

    # Recovery (reading results without the local record) refuses them too.
    recovered = recover(engine, tmp_path / "recovered")
    assert not [p for p in recovered if any(f in p.name for f in refused.values())], recovered

    # Honest work of the same desktop goes on: a retry of a refused file, and a new one.
    system.start_fetcher("fetcher-after")
    retried = engine.retry(victims["unsigned"])
    fresh = submit(engine, files, "fresh")
    assert retried is not None
    for honest in (retried, fresh):
        drop = engine.wait(honest, timeout=90)
        assert drop.phase is Phase.DONE, drop.error
        assert drop.result_path is not None and drop.result_path.is_file()
        assert FORGED not in drop.result_path.read_bytes()

    # The log says why, and never carries a signature.
    assert "result rejected" in caplog.text
    for signature in signatures:
        assert signature not in caplog.text


def test_a_second_pinned_fleet_key_is_accepted_and_a_retired_one_is_refused(
    stack: LocalStack, system: System, observer: Aws, tmp_path: Path
) -> None:
    new_key = fleet.load_signer(fleet.new_key_pem().decode(), None)
    new_file = fleetkey.write_key(new_key.key, tmp_path / "new-fleet-key.pem")
    old_id = fleetkey.local_pins(stack)[0]
    files = tmp_path / "files"
    files.mkdir()

    # During the rotation: desktops pin both keys, the fleet signs with the new one.
    settings = helpers.client_settings(stack, tmp_path / "desk")
    settings.client.fleet_keys = [old_id, new_key.key_id]
    engine = Engine(settings, Aws(settings.aws, "test-client"))
    register_client(stack.admin_settings(), engine.client_id, "rotating desk")
    try:
        rotating = system.start_fetcher("fetcher-new-key", fleet_key_file=str(new_file))
        file_id = submit(engine, files, "rotated")
        drop = engine.wait(file_id, timeout=90)
        assert drop.phase is Phase.DONE, drop.error
        rotating.stop()
    finally:
        engine.stop()

    # After it: the old key is retired from the pins; a fetcher still signing
    # with it makes results the desktop refuses.
    settings.client.fleet_keys = [new_key.key_id]
    engine = Engine(settings, Aws(settings.aws, "test-client"))
    try:
        system.start_fetcher("fetcher-old-key")
        file_id = submit(engine, files, "retired")
        assert ended(stack, file_id).status is Status.COMPLETED
        drop = engine.wait(file_id, timeout=60)
        assert drop.phase is Phase.FAILED
        assert "which this computer does not accept" in (drop.error or ""), drop.error
        assert results_of(engine, "retired") == []
        assert not receipt_exists(observer, engine.client_id, file_id)
    finally:
        engine.stop()
