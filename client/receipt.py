"""The receipt a desktop leaves once a result is safe on its disk.

The watcher deletes a result from the cloud as soon as it finds a receipt
signed by the job's own client key for that very ciphertext; without one the
result still expires after its retention, so a receipt is best effort.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError

from shared.errors import FpwError
from shared.receipts import receipt_key, sign_receipt
from shared.record import Job, iso, utc_now
from shared.store import Store

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger(__name__)


class Receipts:
    """Writes signed receipts for this desktop's results (create-only)."""

    def __init__(self, store: Store, client_id: str, key: ec.EllipticCurvePrivateKey) -> None:
        self.store = store
        self.client_id = client_id
        self.key = key

    def confirm(self, job: Job, sealed: bytes | bytearray) -> None:
        """Say that the result ``sealed`` of ``job`` is saved here; failures are logged."""
        receipt = sign_receipt(job.file, self.client_id, iso(utc_now()), sealed, self.key)
        try:
            self.store.put(
                job.bucket,
                receipt_key(self.client_id, job.file),
                receipt.to_bytes(),
                content_type="application/json",
                create_only=True,  # as the client role demands; one there already is ours
            )
        except (FpwError, BotoCoreError) as exc:
            log.warning("could not confirm receipt of %s (it will expire): %s", job.file, exc)
