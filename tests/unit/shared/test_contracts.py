"""The contracts every part relies on, tested without I/O."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shared import chunks, hpke, signing, transitions
from shared.config import dump_toml, load_settings
from shared.errors import ConfigError, IntegrityError
from shared.keys import load_or_create_key
from shared.record import Job, Status, from_item, iso, queue_shard, to_item, utc_now


def make_job(key: ec.EllipticCurvePrivateKey, **changes: object) -> Job:
    job = Job(
        file="file-00000000-0000-4000-8000-000000000000",
        client=signing.client_id(key.public_key()),
        version="0.1.0",
        created="2026-11-22T10:00:00.123Z",
        bucket="fpw-data",
        chunks=2,
        size=10,
        sha256="ab" * 32,
        chunk_sha256=["cd" * 32, "ef" * 32],
        content_type="text/plain",
        params={"profile": "default", "pages": [1, 2]},
    )
    for name, value in changes.items():
        setattr(job, name, value)
    return job


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    a = signing.canonical_bytes({"b": 1, "a": {"y": "é", "x": [1, 2]}})
    b = signing.canonical_bytes({"a": {"x": [1, 2], "y": "é"}, "b": 1})
    assert a == b == b'fpw-job-v1\n{"a":{"x":[1,2],"y":"\xc3\xa9"},"b":1}'


def test_canonical_bytes_refuse_floats() -> None:
    with pytest.raises(IntegrityError, match="floats"):
        signing.canonical_bytes({"params": {"threshold": 0.5}})


def test_a_signed_job_verifies_and_any_change_to_a_signed_field_breaks_it(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    job = make_job(key)
    signing.sign_job(job, key)
    signing.verify_job(job)
    for name, value in [
        ("size", 11),
        ("chunk_sha256", ["cd" * 32, "00" * 32]),
        ("params", {"profile": "other"}),
        ("content_type", "image/png"),
        ("chunks", 3),
    ]:
        tampered = make_job(key, signature=job.signature, **{name: value})
        with pytest.raises(IntegrityError, match="forged or tampered"):
            signing.verify_job(tampered)


def test_a_job_signed_by_another_key_is_rejected(key: ec.EllipticCurvePrivateKey) -> None:
    job = make_job(key)
    signing.sign_job(job, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(IntegrityError):
        signing.verify_job(job)


def test_client_id_round_trips_to_the_public_key(key: ec.EllipticCurvePrivateKey) -> None:
    cid = signing.client_id(key.public_key())
    assert cid.startswith("client-04") and len(cid) == len("client-") + 130
    assert (
        signing.public_key_from_client_id(cid).public_numbers() == key.public_key().public_numbers()
    )
    with pytest.raises(IntegrityError):
        signing.public_key_from_client_id("client-04zz")


def test_record_round_trips_through_a_dynamodb_item(key: ec.EllipticCurvePrivateKey) -> None:
    job = make_job(key, status=Status.COMPLETED, results=b"\x00ct", attempts=2, expires=99)
    back = from_item(to_item(job))
    assert back == job
    pointer = make_job(key, results_ref="s3://b/results/c/f")
    assert from_item(to_item(pointer)).results_ref == "s3://b/results/c/f"


def test_hpke_result_opens_only_with_the_right_key_and_job(key: ec.EllipticCurvePrivateKey) -> None:
    sealed = hpke.seal(hpke.Payload("application/json", b'{"a":1}'), key.public_key(), "file-1")
    assert hpke.open_result(sealed, key, "file-1") == hpke.Payload("application/json", b'{"a":1}')
    with pytest.raises(IntegrityError, match="cannot be decrypted"):
        hpke.open_result(sealed, key, "file-2")
    with pytest.raises(IntegrityError):
        hpke.open_result(sealed, ec.generate_private_key(ec.SECP256R1()), "file-1")


def test_random_data_is_stored_raw_and_text_is_compressed() -> None:
    assert chunks.choose_compression(bytes(range(256)) * 100) == chunks.ZSTD
    assert chunks.choose_compression(__import__("os").urandom(65536)) == chunks.RAW


def test_decompression_stops_at_the_declared_size() -> None:
    stored = chunks.compress_chunk(b"a" * 100_000, chunks.ZSTD)
    out = io.BytesIO()
    assert chunks.decompress_into(stored, chunks.ZSTD, out, 100_000) == 100_000
    with pytest.raises(IntegrityError, match="beyond"):
        chunks.decompress_into(stored, chunks.ZSTD, io.BytesIO(), 1000)
    with pytest.raises(IntegrityError, match="not valid zstd"):
        chunks.decompress_into(b"garbage", chunks.ZSTD, io.BytesIO(), 1000)


def test_queue_shards_are_stable_and_in_range() -> None:
    shards = {queue_shard(f"file-{i}", 4) for i in range(100)}
    assert shards == {"q0", "q1", "q2", "q3"}
    assert queue_shard("file-x", 4) == queue_shard("file-x", 4)


def test_iso_timestamps_have_milliseconds_and_sort_as_text() -> None:
    text = iso(utc_now())
    assert text.endswith("Z") and len(text) == len("2026-11-22T10:00:00.123Z")


def test_fenced_updates_name_the_holder_and_token() -> None:
    update = transitions.complete("processor-1", 3, "now", b"ct", 10, "30", "fleet-04")
    kwargs = update.kwargs()
    assert kwargs["ConditionExpression"] == transitions.IS_HELD_BY_ME
    assert kwargs["ExpressionAttributeValues"][":fence"] == {"N": "3"}
    assert kwargs["ExpressionAttributeValues"][":me"] == {"S": "processor-1"}


def test_settings_come_from_file_then_environment_then_flags(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text(
        dump_toml(
            {
                "aws": {"table": "from-file", "bucket": "file-bucket"},
                "client": {"chunk_size": 1024, "params": {"profile": "x"}},
            }
        )
    )
    settings = load_settings(
        file,
        environ={"FPW_AWS_TABLE": "from-env", "FPW_CLIENT_UPLOAD_CONCURRENCY": "7"},
        overrides={"aws.table": "from-flag", "client.inbox": None},
    )
    assert settings.aws.table == "from-flag"
    assert settings.aws.bucket == "file-bucket"
    assert settings.client.chunk_size == 1024
    assert settings.client.upload_concurrency == 7
    assert settings.client.params == {"profile": "x"}
    assert settings.client.inbox == Path("inbox")


def test_a_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="upload_concurrency"):
        load_settings(None, environ={"FPW_CLIENT_UPLOAD_CONCURRENCY": "many"})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(None, environ={}, overrides={"client.nope": 1})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_the_key_is_created_once_owner_only_and_kept(tmp_path: Path) -> None:
    first = load_or_create_key(tmp_path)
    second = load_or_create_key(tmp_path)
    assert first.private_numbers() == second.private_numbers()
    assert (tmp_path / "client-key.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("version", "range_text", "expected"),
    [
        ("0.1.0", ">=0.1.0 <1.0.0", True),
        ("1.0.0", ">=0.1.0 <1.0.0", False),
        ("1.0.0-rc.1", "<1.0.0", True),
        ("1.4.2", "^1.2.0", True),
        ("2.0.0", "^1.2.0", False),
        ("0.2.5", "^0.2.0", True),
        ("0.3.0", "^0.2.0", False),
        ("1.4.9", "~1.4.0", True),
        ("1.5.0", "~1.4.0", False),
        ("3.1.0", "~1.4.0 || >=2.0.0", True),
        ("nonsense", ">=0.0.0", False),
    ],
)
def test_version_ranges(version: str, range_text: str, expected: bool) -> None:
    from shared.versions import satisfies

    assert satisfies(version, range_text) is expected
