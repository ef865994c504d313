"""Canonical signed bytes and ECDSA P-256 signatures of jobs.

The signed bytes are a domain prefix followed by JSON with sorted keys, no
insignificant whitespace, UTF-8 and no floats, so every language produces the
same bytes from the same fields (unlike signing ``JSON.stringify`` output,
which depends on key order).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import IntegrityError
from shared.record import Job

DOMAIN = b"fpw-job-v1\n"
CLIENT_PREFIX = "client-"
# Far beyond any honest params, far below Python's recursion limit.
MAX_DEPTH = 64


def _check_signable(value: Any, path: str = "", depth: int = 0) -> None:
    """Only JSON's own types (strings, integers, booleans, null, lists, objects) are signed."""
    where = path or "top level"
    if depth > MAX_DEPTH:
        raise IntegrityError(f"signed fields are nested too deeply (at {where})")
    if isinstance(value, float):
        raise IntegrityError(f"floats cannot be signed (at {where})")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise IntegrityError(f"text that is not valid Unicode (at {where})") from exc
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise IntegrityError(f"keys must be strings (at {where})")
            _check_signable(key, where, depth + 1)
            _check_signable(inner, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            _check_signable(inner, f"{path}[{i}]", depth + 1)
    elif value is not None and not isinstance(value, bool | int):
        raise IntegrityError(f"a {type(value).__name__} cannot be signed (at {where})")


def canonical_bytes(fields: Mapping[str, Any], domain: bytes = DOMAIN) -> bytes:
    """``domain`` keeps a signature over one kind of object from passing as another's."""
    _check_signable(fields)
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return domain + body.encode("utf-8")


def sign_fields(
    fields: Mapping[str, Any], private_key: ec.EllipticCurvePrivateKey, domain: bytes
) -> str:
    return private_key.sign(canonical_bytes(fields, domain), ec.ECDSA(hashes.SHA256())).hex()


def valid_signature(fields: Mapping[str, Any], signature: str, client: str, domain: bytes) -> bool:
    """Whether ``signature`` is ``client``'s over ``fields`` (any malformation is False)."""
    try:
        key = public_key_from_client_id(client)
        key.verify(
            bytes.fromhex(signature), canonical_bytes(fields, domain), ec.ECDSA(hashes.SHA256())
        )
    except (IntegrityError, InvalidSignature, TypeError, ValueError):
        return False
    return True


def key_name(prefix: str, public_key: ec.EllipticCurvePublicKey) -> str:
    """``prefix`` + hex of the uncompressed public point (04...): how the record
    names a key (a client's, the fleet's), so that the name is the key."""
    point = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return prefix + point.hex()


def key_of_name(prefix: str, name: str, what: str) -> ec.EllipticCurvePublicKey:
    """The public key ``name`` holds; ``IntegrityError`` (naming ``what``) if it holds none."""
    if not isinstance(name, str) or not name.startswith(prefix):
        raise IntegrityError(f"{what} {str(name)[:24]}... does not start with {prefix!r}")
    try:
        point = bytes.fromhex(name[len(prefix) :])
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise IntegrityError(f"{what} is not a valid P-256 public point") from exc


def client_id(public_key: ec.EllipticCurvePublicKey) -> str:
    return key_name(CLIENT_PREFIX, public_key)


def public_key_from_client_id(client: str) -> ec.EllipticCurvePublicKey:
    return key_of_name(CLIENT_PREFIX, client, "client id")


def sign_job(job: Job, private_key: ec.EllipticCurvePrivateKey) -> str:
    """Sign the job's signed fields; returns hex DER and stores it on the job."""
    job.signature = sign_fields(job.signed_fields(), private_key, DOMAIN)
    return job.signature


def verify_job(job: Job) -> None:
    """Raise ``IntegrityError`` unless the signature is the client's over the signed fields."""
    try:
        key = public_key_from_client_id(job.client)
        signature = bytes.fromhex(job.signature)
        signed = canonical_bytes(job.signed_fields())
    except IntegrityError as exc:
        raise IntegrityError(exc.message, job=job.file) from exc
    except (TypeError, ValueError) as exc:
        raise IntegrityError("signature is not hex", job=job.file) from exc
    try:
        key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise IntegrityError(
            "signature does not match the job's signed fields (forged or tampered job)",
            job=job.file,
        ) from exc
