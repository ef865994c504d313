"""Receipts: only the job's own client can vouch for having saved that result."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shared import receipts, signing
from shared.errors import IntegrityError


def test_a_receipt_round_trips_and_a_forgery_or_a_moved_one_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    client = signing.client_id(key.public_key())
    receipt = receipts.sign_receipt("file-1", client, "2026-11-23T00:00:00.000Z", b"sealed", key)
    place = receipts.receipt_key(client, "file-1")
    assert receipts.parse_receipt(receipt.to_bytes(), place) == receipt
    assert receipt.results_sha256 == receipts.ciphertext_digest(b"sealed")
    with pytest.raises(IntegrityError, match="names another job"):
        receipts.parse_receipt(receipt.to_bytes(), receipts.receipt_key(client, "file-2"))
    other = ec.generate_private_key(ec.SECP256R1())
    forged = receipts.sign_receipt("file-1", client, "2026-11-23T00:00:00.000Z", b"sealed", other)
    with pytest.raises(IntegrityError, match="not signed by its client"):
        receipts.parse_receipt(forged.to_bytes(), place)
    with pytest.raises(IntegrityError, match="unreadable"):
        receipts.parse_receipt(b"{not json", place)
