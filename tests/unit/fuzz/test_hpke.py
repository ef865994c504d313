"""Result decryption under tampered, truncated, misdirected and forged ciphertexts."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import assume, given
from hypothesis import strategies as st

from shared import hpke
from shared.errors import IntegrityError
from tests.unit.fuzz.strategies import KEYS, file_ids, keys

results = st.builds(hpke.Payload, st.text(max_size=40), st.binary(max_size=2048))


def refused(ciphertext: bytes, key: ec.EllipticCurvePrivateKey, file_id: str) -> bool:
    try:
        hpke.open_result(ciphertext, key, file_id)
    except IntegrityError as exc:
        assert exc.job == file_id
        return True
    return False


@given(results, keys, file_ids)
def test_a_sealed_result_opens_to_itself(
    result: hpke.Payload, key: ec.EllipticCurvePrivateKey, file_id: str
) -> None:
    sealed = hpke.seal(result, key.public_key(), file_id)
    assert hpke.open_result(sealed, key, file_id) == result


@given(results, keys, file_ids, st.data())
def test_any_changed_byte_is_refused(
    result: hpke.Payload, key: ec.EllipticCurvePrivateKey, file_id: str, data: st.DataObject
) -> None:
    sealed = bytearray(hpke.seal(result, key.public_key(), file_id))
    at = data.draw(st.integers(0, len(sealed) - 1), label="byte")
    sealed[at] ^= data.draw(st.integers(1, 255), label="xor")
    assert refused(bytes(sealed), key, file_id)


@given(results, keys, file_ids, st.data())
def test_a_truncated_or_extended_result_is_refused(
    result: hpke.Payload, key: ec.EllipticCurvePrivateKey, file_id: str, data: st.DataObject
) -> None:
    sealed = hpke.seal(result, key.public_key(), file_id)
    cut = data.draw(st.integers(0, len(sealed) - 1), label="length")
    assert refused(sealed[:cut], key, file_id)
    assert refused(sealed + data.draw(st.binary(min_size=1, max_size=16)), key, file_id)


@given(results, keys, file_ids, file_ids)
def test_a_result_moved_to_another_job_is_refused(
    result: hpke.Payload, key: ec.EllipticCurvePrivateKey, file_id: str, other: str
) -> None:
    assume(file_id != other)
    assert refused(hpke.seal(result, key.public_key(), file_id), key, other)


@given(results, file_ids)
def test_a_result_sealed_to_another_key_is_refused(result: hpke.Payload, file_id: str) -> None:
    sealed = hpke.seal(result, KEYS[0].public_key(), file_id)
    assert refused(sealed, KEYS[1], file_id)


@given(st.binary(max_size=300), keys, file_ids)
def test_random_bytes_are_refused(
    ciphertext: bytes, key: ec.EllipticCurvePrivateKey, file_id: str
) -> None:
    assert refused(ciphertext, key, file_id)


@given(
    st.binary(max_size=200)
    | st.builds(lambda h, b: h + b"\n" + b, st.binary(max_size=60), st.binary(max_size=20))
    | st.just(b"[" * 5000 + b"\n")
    | st.just(b'{"content_type": 5}\nbody'),
    keys,
    file_ids,
)
def test_a_genuine_ciphertext_of_any_plaintext_opens_or_is_refused(
    plaintext: bytes, key: ec.EllipticCurvePrivateKey, file_id: str
) -> None:
    """Anyone can seal to a public key: the header inside is untrusted input too."""
    sealed = hpke.SUITE.encrypt(plaintext, key.public_key(), info=hpke.info_for(file_id))
    try:
        result = hpke.open_result(sealed, key, file_id)
    except IntegrityError as exc:
        assert "header" in exc.message
        return
    assert isinstance(result.content_type, str)
    assert plaintext.endswith(result.body)
