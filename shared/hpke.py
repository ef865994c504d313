"""Results encryption: HPKE (RFC 9180) base mode to the client's P-256 key.

Suite DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, with ``info``
binding the ciphertext to its job, so a result moved to another record fails
to open. The plaintext is a one-line JSON header (the result's content type)
followed by the result bytes, so the content type is not visible in the
record either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import IntegrityError

SUITE = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
INFO_PREFIX = b"fpw-result-v1"
HEADER_MAX_BYTES = 64 * 1024
"""The JSON header line is short; a longer first line is not a header."""


@dataclass(frozen=True)
class Payload:
    content_type: str
    body: bytes


def info_for(file_id: str) -> bytes:
    return INFO_PREFIX + file_id.encode("utf-8")


def seal(result: Payload, public_key: ec.EllipticCurvePublicKey, file_id: str) -> bytes:
    header = json.dumps({"content_type": result.content_type}, separators=(",", ":"))
    plaintext = header.encode("utf-8") + b"\n" + result.body
    return SUITE.encrypt(plaintext, public_key, info=info_for(file_id))


def open_result(
    ciphertext: bytes | bytearray, private_key: ec.EllipticCurvePrivateKey, file_id: str
) -> Payload:
    content_type, body = open_parts(ciphertext, private_key, file_id)
    return Payload(content_type=content_type, body=bytes(body))


def open_parts(
    ciphertext: bytes | bytearray, private_key: ec.EllipticCurvePrivateKey, file_id: str
) -> tuple[str, memoryview]:
    """The content type and a view of the body inside the plaintext: a large result
    is held once (plus its ciphertext), not copied again to split off the header."""
    try:
        plaintext = SUITE.decrypt(ciphertext, private_key, info=info_for(file_id))
    except (InvalidTag, ValueError) as exc:
        raise IntegrityError(
            "result cannot be decrypted with this computer's key (wrong key or tampered result)",
            job=file_id,
        ) from exc
    end = plaintext.find(b"\n", 0, HEADER_MAX_BYTES)
    if end < 0 and len(plaintext) <= HEADER_MAX_BYTES:
        end = len(plaintext)  # a header and no body
    try:
        if end < 0:
            raise ValueError("no header line")
        content_type = str(json.loads(plaintext[:end])["content_type"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise IntegrityError("decrypted result has no valid header", job=file_id) from exc
    return content_type, memoryview(plaintext)[end + 1 :]
