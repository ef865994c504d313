"""Delivery receipts: the client's signed word that it has saved a result.

The client may only create objects under ``receipts/``; the watcher reads a
receipt, checks that the job's own client signed it for that very job and
ciphertext, and only then deletes the result and what is left of the data.
A forged or misplaced receipt deletes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from shared import signing
from shared.errors import IntegrityError

DOMAIN = b"fpw-receipt-v1\n"
PREFIX = "receipts/"
# A genuine receipt is about 400 bytes; anything far larger is not one.
MAX_BYTES = 4096


def receipt_key(client: str, file_id: str) -> str:
    return f"{PREFIX}{client}/{file_id}"


def ciphertext_digest(ciphertext: bytes | bytearray) -> str:
    return hashlib.sha256(ciphertext).hexdigest()


@dataclass(frozen=True)
class Receipt:
    file: str
    client: str
    received: str
    """When the result was saved (ISO-8601 UTC)."""
    results_sha256: str
    """SHA-256 of the ciphertext that was opened: the receipt is for that result only."""
    signature: str = ""

    def fields(self) -> dict[str, str]:
        data = asdict(self)
        data.pop("signature")
        return data

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")


def sign_receipt(
    file_id: str,
    client: str,
    received: str,
    ciphertext: bytes | bytearray,
    key: ec.EllipticCurvePrivateKey,
) -> Receipt:
    unsigned = Receipt(file_id, client, received, ciphertext_digest(ciphertext))
    return Receipt(
        **{**asdict(unsigned), "signature": signing.sign_fields(unsigned.fields(), key, DOMAIN)}
    )


def parse_receipt(data: bytes, key: str) -> Receipt:
    """A receipt read from ``key``; raises ``IntegrityError`` unless it is genuine and in place."""
    if len(data) > MAX_BYTES:
        raise IntegrityError(
            f"receipt at {key} has {len(data)} bytes; receipts are under {MAX_BYTES}"
        )
    try:
        raw = json.loads(data)
        fields = {name: raw[name] for name in Receipt.__dataclass_fields__}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise IntegrityError(f"unreadable receipt at {key}") from exc
    if not all(isinstance(value, str) for value in fields.values()):
        raise IntegrityError(f"unreadable receipt at {key}: every field is a string")
    receipt = Receipt(**fields)
    if key != receipt_key(receipt.client, receipt.file):
        raise IntegrityError(f"receipt at {key} names another job", job=receipt.file)
    if not signing.valid_signature(receipt.fields(), receipt.signature, receipt.client, DOMAIN):
        raise IntegrityError(f"receipt at {key} is not signed by its client", job=receipt.file)
    return receipt
