"""Collecting a result: read it, check the fleet signed it for this very job,
open it with this desktop's key, write it where the user finds it, and leave
a receipt.

A result that is too large, unsigned, signed for another job or that does
not open leaves no file behind (``IntegrityError``); a result written is
never half-written (a temporary file, renamed into place). The watcher
deletes a result from the cloud as soon as it finds a receipt signed by the
job's own client key for that very ciphertext; without one the result still
expires after its retention, so a receipt is best effort.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError

from client.places import read_all, result_path, too_big
from shared import fleet, hpke
from shared.disk import room_for
from shared.errors import FpwError, IntegrityError, TransientError
from shared.receipts import receipt_key, sign_receipt
from shared.record import Job, iso, results_location, utc_now
from shared.store import Store

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedResult:
    """A result checked and decrypted: its media type, body, and what was sealed."""

    content_type: str
    body: memoryview
    """A view into the decrypted plaintext (held once)."""
    sealed: bytes | bytearray


@dataclass
class Collector:
    """Reads, verifies and decrypts results sealed to ``key``, and writes them."""

    store: Store
    key: ec.EllipticCurvePrivateKey
    fleet_keys: frozenset[str]
    """Fleet keys whose signed results this desktop accepts (``shared.fleet``)."""
    max_result_bytes: int

    def sealed_result(self, job: Job) -> bytes | bytearray:
        """The sealed result, from the record or from the job's own result object.

        One over ``client.max_result_bytes`` is refused before it is read; an object
        is read into one buffer of its announced size (no second copy).
        """
        cap = self.max_result_bytes
        if job.results is not None:
            if len(job.results) > cap:
                raise IntegrityError(too_big(len(job.results), cap), job=job.file)
            return job.results
        if job.results_ref is None:
            raise IntegrityError("the job completed without a result", job=job.file)
        bucket, key = results_location(job)
        try:
            opened = self.store.open(bucket, key)
        except TransientError:
            raise
        except FpwError as exc:  # refused: to this desktop, the object is not there
            raise IntegrityError(
                f"the result object is missing or unreadable ({exc.message})", job=job.file
            ) from exc
        if opened is None:
            raise IntegrityError("the result object is missing or unreadable", job=job.file)
        try:
            if opened.size > cap:
                raise IntegrityError(too_big(opened.size, cap), job=job.file)
            return read_all(opened.body, opened.size, cap, job.file)
        finally:
            opened.close()

    def open(self, job: Job, kept: Job) -> OpenedResult:
        """The result of ``job``, checked against ``kept`` (the job as this desktop signed
        it), then opened: before anything is written, so that a result the fleet did
        not sign for this very job, or that does not open, leaves nothing behind."""
        sealed = self.sealed_result(job)
        fleet.verify_result(job, sealed, kept, self.fleet_keys)
        content_type, body = hpke.open_parts(sealed, self.key, job.file)
        return OpenedResult(content_type, body, sealed)

    def write(self, folder: Path, name: str, file_id: str, opened: OpenedResult) -> Path:
        """Save a result as ``name``'s result in ``folder``; returns where."""
        folder.mkdir(parents=True, exist_ok=True)
        target = result_path(folder, name, opened.content_type)
        tmp = folder / f".{file_id}.part"
        with room_for(
            folder,
            len(opened.body),
            f"the result of {name}",
            job=file_id,
            setting="client.results",
            undo=lambda: tmp.unlink(missing_ok=True),  # never a half-written result
        ):
            with tmp.open("wb") as out:
                out.write(opened.body)
        tmp.replace(target)
        return target


@dataclass
class Receipts:
    """Writes signed receipts for this desktop's results (create-only)."""

    store: Store
    client_id: str
    key: ec.EllipticCurvePrivateKey

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
