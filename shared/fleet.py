"""Fleet signatures: how a desktop knows a result came from the fleet.

Sealing a result to the client's public key (HPKE base mode) proves nothing
about who sealed it: every desktop holds the site key that can write job
records, and anyone can seal to a public key. So the fetcher also signs each
result with the fleet's P-256 key, and the desktop accepts only results
signed by a key it pins (``client.fleet_keys``).

The signed message is domain-separated canonical JSON (``shared.signing``)
that binds the result to its job: the file id, the client, the client's own
job signature (which covers every signed field), the holder and its fencing
token (``attempts``), where the ciphertext is stored (in the record or in
S3) and the SHA-256 of the ciphertext. The result's content type travels
inside the sealed plaintext, so the ciphertext's hash binds it too without
showing it in the record.

A fleet key is named by its public point, ``fleet-`` + hex of the
uncompressed point (as client ids are), so that a pin is the key itself:
rotation adds the new key to the pins, switches the fleet to it, and retires
the old one once no unread result carries it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import ConfigError, IntegrityError
from shared.record import HOLDER, Job
from shared.signing import canonical_bytes, key_name, key_of_name

DOMAIN = b"fpw-fleet-result-v1\n"
KEY_PREFIX = "fleet-"
INLINE = "record"
IN_S3 = "s3"


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """``fleet-`` + hex of the uncompressed public point: the pin a desktop keeps."""
    return key_name(KEY_PREFIX, public_key)


def public_key(fleet_key: str) -> ec.EllipticCurvePublicKey:
    """The public key a fleet key id names; ``IntegrityError`` if it names none."""
    return key_of_name(KEY_PREFIX, fleet_key, "fleet key")


def short(fleet_key: str) -> str:
    """A fleet key id shortened for logs and messages (never the whole key)."""
    return fleet_key[: len(KEY_PREFIX) + 12] + "…"


def pins(values: Iterable[str]) -> frozenset[str]:
    """The pinned fleet keys of a desktop's settings; a malformed pin is a settings error."""
    pinned: set[str] = set()
    for value in values:
        text = value.strip().lower()
        if not text:
            continue
        try:
            public_key(text)
        except IntegrityError as exc:
            raise ConfigError(
                f"client.fleet_keys has an entry that is not a fleet key ({exc.message})",
                hint="copy the keys printed by `fpw admin site add` (fleet-04…)",
            ) from exc
        pinned.add(text)
    return frozenset(pinned)


def storage(job: Job) -> str:
    """Where the job's ciphertext is kept: in the record or in its S3 result object."""
    return IN_S3 if job.results is None and job.results_ref is not None else INLINE


def message(job: Job, ciphertext: bytes | bytearray, stored: str) -> bytes:
    """The bytes the fleet signs for ``job``'s result ``ciphertext`` stored in ``stored``."""
    fields = {
        "file": job.file,
        "client": job.client,
        "job_signature": job.signature,
        HOLDER: job.holder or "",
        "attempts": job.attempts,
        "stored": stored,
        "results_sha256": hashlib.sha256(ciphertext).hexdigest(),
    }
    return canonical_bytes(fields, DOMAIN)


@dataclass(frozen=True)
class Signer:
    """The fleet's private key, as the fetcher holds it."""

    key: ec.EllipticCurvePrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    def sign(self, job: Job, ciphertext: bytes | bytearray, stored: str) -> str:
        """Hex DER ECDSA-P256-SHA256 over ``message``; ``job`` as the holder holds it."""
        return self.key.sign(message(job, ciphertext, stored), ec.ECDSA(hashes.SHA256())).hex()


def load_signer(pem: str | None, path: Path | None) -> Signer:
    """The fleet key from its PEM text (a secret in the environment) or a PEM file."""
    if pem:
        data, where = pem.encode("utf-8"), "fetcher.fleet_key_pem"
    elif path is not None:
        try:
            data, where = path.expanduser().read_bytes(), str(path)
        except OSError as exc:
            raise ConfigError(f"cannot read the fleet key {path}: {exc.strerror}") from exc
    else:
        raise ConfigError(
            "the fetcher has no fleet key: desktops accept only results the fleet signed",
            hint="set fetcher.fleet_key_file (a PEM file) or FPW_FETCHER_FLEET_KEY_PEM;"
            " docs/deploy.md says how to make one",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the fleet key ({where}) is not an unencrypted PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"the fleet key ({where}) is not a P-256 private key")
    return Signer(key)


def new_key_pem() -> bytes:
    """A fresh fleet private key as PKCS#8 PEM (for ``fpw up`` and operators)."""
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def verify_result(
    job: Job, ciphertext: bytes | bytearray, mine: Job, pinned: frozenset[str]
) -> None:
    """Raise ``IntegrityError`` unless ``job``'s result is the fleet's, for the job ``mine``.

    ``job`` is the record as read, ``ciphertext`` what was actually read for it,
    ``mine`` the desktop's own copy of the job it signed and ``pinned`` the fleet
    keys it accepts. Every check is made before anything is written or receipted.
    """
    if not pinned:
        raise IntegrityError(
            "result rejected: no fleet key is pinned (client.fleet_keys), so no result"
            " can be trusted",
            job=job.file,
        )
    if job.file != mine.file or job.signature != mine.signature:
        raise IntegrityError(
            "result rejected: the record is not the job this computer signed", job=job.file
        )
    theirs, ours = job.signed_fields(), mine.signed_fields()
    if theirs != ours:
        changed = sorted(name for name in theirs if theirs[name] != ours[name])
        raise IntegrityError(
            f"result rejected: the record's signed fields were changed ({', '.join(changed)})",
            job=job.file,
        )
    if not job.result_signature or not job.fleet_key:
        raise IntegrityError("result rejected: not signed by the fleet", job=job.file)
    if job.fleet_key not in pinned:
        raise IntegrityError(
            f"result rejected: signed by fleet key {short(job.fleet_key)}, which this computer"
            " does not accept (client.fleet_keys)",
            job=job.file,
        )
    try:
        public_key(job.fleet_key).verify(
            bytes.fromhex(job.result_signature),
            message(job, ciphertext, storage(job)),
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError, IntegrityError) as exc:
        raise IntegrityError(
            "result rejected: the fleet's signature does not match this job's result",
            job=job.file,
        ) from exc


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.fleet new|show KEYFILE``: make a fleet key, or name one.

    Prints the key's id (``fleet-04…``), which is what desktops pin and what the
    template's ``FleetKeys`` parameter lists; the private key is never printed.
    """
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m shared.fleet", description=main.__doc__)
    parser.add_argument("action", choices=("new", "show"))
    parser.add_argument("keyfile", type=Path)
    args = parser.parse_args(argv)
    path: Path = args.keyfile
    if args.action == "new":
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            parser.error(f"{path} exists; a fleet key is never overwritten")
        with os.fdopen(fd, "wb") as fh:
            fh.write(new_key_pem())
    try:
        print(load_signer(None, path).key_id)
    except ConfigError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
