"""Canonical bytes and job signatures under random fields, values and signatures."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import assume, given
from hypothesis import strategies as st

from shared import signing
from shared.errors import IntegrityError
from shared.record import Job, from_item, to_item
from tests.unit.fuzz.strategies import (
    attributes,
    jobs,
    json_values,
    keys,
    signed_field_names,
)

# Values a record could carry or a caller could pass, JSON or not.
any_values = st.recursive(
    json_values
    | st.floats(allow_nan=True)
    | st.binary(max_size=8)
    | st.sets(st.integers(), max_size=3)
    | st.tuples(st.integers()),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=3)
    ),
    max_leaves=10,
)


def reordered(value: Any) -> Any:
    """The same value with every object's keys inserted in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_canonical_bytes_do_not_depend_on_key_order_and_parse_back(fields: dict[str, Any]) -> None:
    data = signing.canonical_bytes(fields)
    assert data == signing.canonical_bytes(reordered(fields))
    assert data.startswith(signing.DOMAIN)
    body = data[len(signing.DOMAIN) :]
    assert json.loads(body) == fields
    # Canonical: what another implementation parses and re-encodes is the same bytes.
    assert signing.canonical_bytes(json.loads(body)) == data


@given(st.dictionaries(st.text(max_size=6), any_values, max_size=4))
def test_any_value_is_signable_or_refused_with_an_integrity_error(fields: dict[str, Any]) -> None:
    try:
        data = signing.canonical_bytes(fields)
    except IntegrityError:
        return
    json.loads(data[len(signing.DOMAIN) :])


@given(jobs(), keys)
def test_a_signed_job_verifies_after_a_trip_through_the_record(
    job: Job, key: ec.EllipticCurvePrivateKey
) -> None:
    job.client = signing.client_id(key.public_key())
    signing.sign_job(job, key)
    signing.verify_job(from_item(to_item(job)))


@given(jobs(), keys, signed_field_names, st.data())
def test_any_change_to_any_signed_field_breaks_the_signature(
    job: Job, key: ec.EllipticCurvePrivateKey, name: str, data: st.DataObject
) -> None:
    """Every field in ``SIGNED_FIELDS`` is covered: a field added there is fuzzed too."""
    job.client = signing.client_id(key.public_key())
    signing.sign_job(job, key)
    item = to_item(job)
    item[name] = data.draw(attributes, label="replacement")
    assume(item[name] != to_item(job)[name])
    try:
        tampered = from_item(item)
    except IntegrityError:
        return  # refused even before the signature is checked
    try:
        signing.verify_job(tampered)
    except IntegrityError as exc:
        assert exc.job == job.file
    else:
        # Only a value that means the same field (e.g. another spelling of
        # the same number) may pass.
        assert signing.canonical_bytes(tampered.signed_fields()) == signing.canonical_bytes(
            job.signed_fields()
        )


@given(jobs(), keys, st.text(max_size=200))
def test_a_random_signature_is_refused(job: Job, key: ec.EllipticCurvePrivateKey, sig: str) -> None:
    job.client = signing.client_id(key.public_key())
    job.signature = sig
    try:
        signing.verify_job(job)
    except IntegrityError:
        return
    raise AssertionError(f"a random signature {sig!r} verified")


@given(jobs(), keys, st.data())
def test_a_signature_with_any_byte_changed_is_refused(
    job: Job, key: ec.EllipticCurvePrivateKey, data: st.DataObject
) -> None:
    job.client = signing.client_id(key.public_key())
    raw = bytearray.fromhex(signing.sign_job(job, key))
    # ECDSA signatures vary in length: draw a position independent of this one's.
    at = data.draw(st.integers(0, 71), label="byte") % len(raw)
    raw[at] ^= data.draw(st.integers(1, 255), label="xor")
    job.signature = raw.hex()
    try:
        signing.verify_job(job)
    except IntegrityError:
        return
    raise AssertionError("a changed signature verified")


@given(jobs(), st.text(max_size=140) | st.binary(max_size=70).map(lambda b: "client-" + b.hex()))
def test_a_random_client_id_is_refused_with_an_integrity_error(job: Job, client: str) -> None:
    job.client = client
    try:
        signing.verify_job(job)
    except IntegrityError:
        return
    raise AssertionError("a job with a random client id verified")


@given(any_values, any_values, any_values, st.binary(max_size=12))
def test_valid_signature_answers_false_and_never_raises(
    fields: Any, signature: Any, client: Any, domain: bytes
) -> None:
    mapping = fields if isinstance(fields, dict) else {"v": fields}
    assert signing.valid_signature(mapping, signature, client, domain) is False


@given(keys, keys, jobs())
def test_a_signature_is_valid_for_its_own_key_only(
    signer: ec.EllipticCurvePrivateKey, other: ec.EllipticCurvePrivateKey, job: Job
) -> None:
    assume(signer is not other)
    job.client = signing.client_id(signer.public_key())
    signing.sign_job(job, signer)
    job.client = signing.client_id(other.public_key())
    try:
        signing.verify_job(job)
    except IntegrityError:
        return
    raise AssertionError("a signature verified under another client's key")
