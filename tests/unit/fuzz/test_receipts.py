"""Delivery receipts under random, altered and misplaced bytes.

Any desktop can write a receipt and the watcher parses every one: whatever
the bytes, ``parse_receipt`` returns a genuine receipt for that key or raises
``IntegrityError``.
"""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import assume, given
from hypothesis import strategies as st

from shared import receipts, signing
from shared.errors import IntegrityError
from tests.unit.fuzz.strategies import file_ids, json_values, keys, timestamps


def parsed_or_refused(data: bytes, key: str) -> receipts.Receipt | None:
    try:
        receipt = receipts.parse_receipt(data, key)
    except IntegrityError:
        return None
    assert key == receipts.receipt_key(receipt.client, receipt.file)
    return receipt


@given(keys, file_ids, timestamps, st.binary(max_size=100))
def test_a_signed_receipt_parses_back_at_its_own_key(
    key: ec.EllipticCurvePrivateKey, file_id: str, received: str, ciphertext: bytes
) -> None:
    client = signing.client_id(key.public_key())
    receipt = receipts.sign_receipt(file_id, client, received, ciphertext, key)
    where = receipts.receipt_key(client, file_id)
    assert receipts.parse_receipt(receipt.to_bytes(), where) == receipt
    assert receipt.results_sha256 == receipts.ciphertext_digest(ciphertext)


@given(keys, file_ids, timestamps, st.data())
def test_a_receipt_with_any_field_changed_is_refused(
    key: ec.EllipticCurvePrivateKey, file_id: str, received: str, data: st.DataObject
) -> None:
    client = signing.client_id(key.public_key())
    receipt = receipts.sign_receipt(file_id, client, received, b"sealed", key)
    fields = json.loads(receipt.to_bytes())
    name = data.draw(st.sampled_from(sorted(fields)), label="field")
    fields[name] = data.draw(json_values, label="value")
    assume(fields[name] != json.loads(receipt.to_bytes())[name])
    where = receipts.receipt_key(client, file_id)
    assert parsed_or_refused(json.dumps(fields).encode(), where) is None


@given(keys, file_ids, file_ids)
def test_a_receipt_moved_to_another_key_is_refused(
    key: ec.EllipticCurvePrivateKey, file_id: str, other: str
) -> None:
    assume(file_id != other)
    client = signing.client_id(key.public_key())
    receipt = receipts.sign_receipt(file_id, client, "2026-01-01T00:00:00.000Z", b"x", key)
    assert parsed_or_refused(receipt.to_bytes(), receipts.receipt_key(client, other)) is None


@given(st.binary(max_size=600), st.text(max_size=60))
def test_random_bytes_are_refused(data: bytes, key: str) -> None:
    assert parsed_or_refused(data, key) is None


@given(json_values, st.text(max_size=60))
def test_any_json_that_is_not_a_signed_receipt_is_refused(value: object, key: str) -> None:
    assert parsed_or_refused(json.dumps(value).encode(), key) is None


@given(st.integers(1, 200_000), st.sampled_from([b"[", b'{"a":']))
def test_deeply_nested_or_oversized_json_is_refused(depth: int, opener: bytes) -> None:
    assert parsed_or_refused(opener * depth, "receipts/x/y") is None
