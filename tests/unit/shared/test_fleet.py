"""Fleet signatures over results (shared/fleet.py), tested without I/O."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from infra import fleetkey
from infra.local.stack import LocalStack
from shared import fleet, hpke, signing
from shared.config import dump_toml, load_settings
from shared.errors import ConfigError, IntegrityError
from shared.record import Job, Status, from_item, to_item
from tests.unit.shared.test_contracts import make_job

OTHER_FILE = "file-11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def client_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def fleet_key() -> fleet.Signer:
    return fleet.Signer(ec.generate_private_key(ec.SECP256R1()))


def signed_job(client_key: ec.EllipticCurvePrivateKey, **changes: object) -> Job:
    job = make_job(client_key, **changes)
    signing.sign_job(job, client_key)
    return job


def completed(
    mine: Job, signer: fleet.Signer | None, body: bytes = b"the result", in_s3: bool = False
) -> tuple[Job, bytes]:
    """The record as a fetcher holding ``mine`` (attempt 2) leaves it, and its ciphertext."""
    job = copy.deepcopy(mine)
    job.status = Status.COMPLETED
    job.holder = "processor-7"
    job.attempts = 2
    sealed = hpke.seal(
        hpke.Payload("text/plain", body), signing.public_key_from_client_id(job.client), job.file
    )
    if in_s3:
        job.results_ref = f"s3://{job.bucket}/results/{job.client}/{job.file}"
    else:
        job.results = sealed
    if signer is not None:
        job.result_signature = signer.sign(job, sealed, fleet.storage(job))
        job.fleet_key = signer.key_id
    return job, sealed


def test_a_result_the_fleet_signed_for_this_job_is_accepted_inline_and_in_s3(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    for in_s3 in (False, True):
        job, sealed = completed(mine, fleet_key, in_s3=in_s3)
        fleet.verify_result(job, sealed, mine, frozenset({fleet_key.key_id}))


def test_the_signature_and_key_survive_the_record(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    job, sealed = completed(mine, fleet_key)
    read = from_item(to_item(job))
    assert (read.result_signature, read.fleet_key) == (job.result_signature, job.fleet_key)
    fleet.verify_result(read, sealed, mine, frozenset({fleet_key.key_id}))


def test_a_result_without_a_fleet_signature_is_rejected(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    job, sealed = completed(mine, None)
    with pytest.raises(IntegrityError, match="result rejected: not signed by the fleet"):
        fleet.verify_result(job, sealed, mine, frozenset({fleet_key.key_id}))


def test_a_result_signed_by_a_key_not_pinned_is_rejected(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    stranger = fleet.Signer(ec.generate_private_key(ec.SECP256R1()))
    job, sealed = completed(mine, stranger)
    with pytest.raises(IntegrityError, match="does not accept") as caught:
        fleet.verify_result(job, sealed, mine, frozenset({fleet_key.key_id}))
    assert stranger.key_id not in str(caught.value)  # the key is named, never dumped
    # Naming a pinned key while signing with another does not help.
    job.fleet_key = fleet_key.key_id
    with pytest.raises(IntegrityError, match="signature does not match"):
        fleet.verify_result(job, sealed, mine, frozenset({fleet_key.key_id}))


def test_during_a_rotation_both_pinned_keys_are_accepted_and_a_retired_one_is_not(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    new = fleet.Signer(ec.generate_private_key(ec.SECP256R1()))
    both = frozenset({fleet_key.key_id, new.key_id})
    for signer in (fleet_key, new):
        job, sealed = completed(mine, signer)
        fleet.verify_result(job, sealed, mine, both)
    job, sealed = completed(mine, fleet_key)
    with pytest.raises(IntegrityError, match="does not accept"):
        fleet.verify_result(job, sealed, mine, frozenset({new.key_id}))


def test_a_genuine_result_of_another_job_replayed_onto_this_one_is_rejected(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    other, other_sealed = completed(signed_job(client_key, file=OTHER_FILE), fleet_key)
    job, _ = completed(mine, None)
    job.results = other_sealed
    job.result_signature, job.fleet_key = other.result_signature, other.fleet_key
    with pytest.raises(IntegrityError, match="signature does not match"):
        fleet.verify_result(job, other_sealed, mine, frozenset({fleet_key.key_id}))


def test_any_change_to_what_the_fleet_signed_breaks_it(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    pinned = frozenset({fleet_key.key_id})
    job, sealed = completed(mine, fleet_key)
    with pytest.raises(IntegrityError, match="signature does not match"):
        fleet.verify_result(job, sealed[:-1] + bytes([sealed[-1] ^ 1]), mine, pinned)
    for name, value in [("attempts", 3), ("holder", "processor-8")]:
        changed = copy.deepcopy(job)
        setattr(changed, name, value)
        with pytest.raises(IntegrityError, match="signature does not match"):
            fleet.verify_result(changed, sealed, mine, pinned)
    # The same ciphertext, said to be in S3 when the fleet put it in the record.
    moved = copy.deepcopy(job)
    moved.results, moved.results_ref = None, f"s3://{job.bucket}/results/{job.client}/{job.file}"
    with pytest.raises(IntegrityError, match="signature does not match"):
        fleet.verify_result(moved, sealed, mine, pinned)
    garbled = copy.deepcopy(job)
    garbled.result_signature = "not hex"
    with pytest.raises(IntegrityError, match="signature does not match"):
        fleet.verify_result(garbled, sealed, mine, pinned)


def test_a_record_whose_signed_fields_differ_from_the_desktops_copy_is_rejected(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    pinned = frozenset({fleet_key.key_id})
    job, sealed = completed(mine, fleet_key)
    altered = copy.deepcopy(job)
    altered.params = {"profile": "other"}
    with pytest.raises(IntegrityError, match=r"signed fields were changed \(params\)"):
        fleet.verify_result(altered, sealed, mine, pinned)
    # A whole other job of this client (its own signature) is not this job either.
    resigned = signed_job(client_key, params={"profile": "other"})
    other, other_sealed = completed(resigned, fleet_key)
    with pytest.raises(IntegrityError, match="not the job this computer signed"):
        fleet.verify_result(other, other_sealed, mine, pinned)


def test_with_no_pinned_key_every_result_is_rejected(
    client_key: ec.EllipticCurvePrivateKey, fleet_key: fleet.Signer
) -> None:
    mine = signed_job(client_key)
    job, sealed = completed(mine, fleet_key)
    with pytest.raises(IntegrityError, match="no fleet key is pinned"):
        fleet.verify_result(job, sealed, mine, frozenset())


def test_pins_are_fleet_keys_and_a_malformed_one_is_a_settings_error(
    fleet_key: fleet.Signer,
) -> None:
    assert fleet.pins([f" {fleet_key.key_id.upper().replace('FLEET', 'fleet')} ", ""]) == {
        fleet_key.key_id
    }
    with pytest.raises(ConfigError, match="client.fleet_keys"):
        fleet.pins(["client-04abcd"])
    with pytest.raises(ConfigError, match="client.fleet_keys"):
        fleet.pins(["fleet-04abcd"])


def test_pinned_keys_come_from_a_list_or_a_comma_separated_variable(
    tmp_path: Path, fleet_key: fleet.Signer
) -> None:
    other = fleet.Signer(ec.generate_private_key(ec.SECP256R1())).key_id
    file = tmp_path / "desk.toml"
    file.write_text(f'[client]\nfleet_keys = ["{other}"]\n', encoding="utf-8")
    assert load_settings(file, environ={}).client.fleet_keys == [other]
    settings = load_settings(
        file, environ={"FPW_CLIENT_FLEET_KEYS": f"{fleet_key.key_id}, {other}"}
    )
    assert settings.client.fleet_keys == [fleet_key.key_id, other]


def test_the_fetcher_loads_its_key_from_pem_text_or_a_file_and_refuses_none(
    tmp_path: Path,
) -> None:
    pem = fleet.new_key_pem()
    from_text = fleet.load_signer(pem.decode(), None)
    path = tmp_path / "fleet.pem"
    path.write_bytes(pem)
    assert fleet.load_signer(None, path).key_id == from_text.key_id
    with pytest.raises(ConfigError, match="no fleet key"):
        fleet.load_signer(None, None)
    with pytest.raises(ConfigError, match="cannot read"):
        fleet.load_signer(None, tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        fleet.load_signer("garbage", None)


def test_the_local_stack_key_is_the_same_wherever_the_stack_is_known(tmp_path: Path) -> None:
    stack = LocalStack("http://127.0.0.1:1", "us-east-1", {}, ("AKIALOCAL", "secret-one"))
    proxied = dataclasses.replace(stack, endpoint="http://127.0.0.1:2")
    other = dataclasses.replace(stack, admin_key=("AKIALOCAL", "secret-two"))
    assert fleetkey.local_pins(stack) == fleetkey.local_pins(proxied) != fleetkey.local_pins(other)

    # What a part started elsewhere reads: the fetcher's key and the desktop's pin agree.
    for role in ("fetcher", "client"):
        (tmp_path / f"{role}.toml").write_text(
            dump_toml(fleetkey.role_groups(stack, role)), encoding="utf-8"
        )
    fetcher = load_settings(tmp_path / "fetcher.toml", environ={}).fetcher
    client = load_settings(tmp_path / "client.toml", environ={}).client
    signer = fleet.load_signer(fetcher.fleet_key_pem, fetcher.fleet_key_file)
    assert client.fleet_keys == [signer.key_id] == fleetkey.local_pins(stack)
    path = fleetkey.local_key_file(stack, tmp_path / "fetcher-home")
    assert path.stat().st_mode & 0o077 == 0
    assert fleet.load_signer(None, path).key_id == signer.key_id


def test_a_site_is_told_the_fleet_keys_the_stack_publishes(fleet_key: fleet.Signer) -> None:
    other = fleet.Signer(ec.generate_private_key(ec.SECP256R1())).key_id
    text = fleetkey.pins_toml(
        fleetkey.pins_from_outputs({"FleetKeys": f"{fleet_key.key_id},{other}"})
    )
    pinned = tomllib.loads(text)["client"]["fleet_keys"]
    assert sorted(pinned) == sorted([fleet_key.key_id, other])
    assert "no fleet key is published" in fleetkey.pins_toml(fleetkey.pins_from_outputs({}))
