"""The fleet key of a deployment: where fetchers get it and desktops find its pin.

On AWS the private key is a Secrets Manager secret that ECS hands the fetcher
container (``FleetKeySecretArn``), and the public keys desktops pin are the
template's ``FleetKeys`` parameter, echoed as an output that ``fpw admin site
add`` prints (docs/deploy.md, "The fleet key").

The local stack has no secret to hold: its fleet key is derived from the
stack's own admin credentials, so every process that knows the stack (the
tests, ``fpw up``, a proxied view of the same stack) finds the same key
without a file or a lookup. It is as secret as those credentials, which
exist only for the life of the local stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared import fleet
from shared.private import write_private

if TYPE_CHECKING:
    from infra.local.stack import LocalStack

OUTPUT = "FleetKeys"
# The order of P-256's group: a derived scalar is reduced into [1, n - 1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def local_key(stack: LocalStack) -> ec.EllipticCurvePrivateKey:
    """The local stack's fleet key, the same in every process that knows the stack."""
    return _key_of_admin(stack.admin_key[1])


def _key_of_admin(admin_secret: str) -> ec.EllipticCurvePrivateKey:
    seed = HKDF(
        algorithm=hashes.SHA256(), length=48, salt=None, info=b"fpw-local-fleet-key-v1"
    ).derive(admin_secret.encode("utf-8"))
    scalar = int.from_bytes(seed, "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def pin_of_admin(admin_secret: str) -> str:
    """The local stack's pin, known before the stack exists: its template's ``FleetKeys``."""
    return fleet.key_id(_key_of_admin(admin_secret).public_key())


def local_pins(stack: LocalStack) -> list[str]:
    """What a desktop of the local stack pins: its one fleet key."""
    return [fleet.key_id(local_key(stack).public_key())]


def role_groups(stack: LocalStack, role: str) -> dict[str, dict[str, object]]:
    """Settings that a part of the local stack run elsewhere (a container) needs for
    the fleet key: the fetcher's key as PEM text, the desktop's pin."""
    if role == "fetcher":
        return {"fetcher": {"fleet_key_pem": _pem(local_key(stack)).decode("ascii")}}
    if role == "client":
        return {"client": {"fleet_keys": local_pins(stack)}}
    return {}


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    """``key`` as a PEM file only its owner can read (a fetcher's ``fleet_key_file``),
    written whole or not at all: a fetcher starting meanwhile reads the old or the new."""
    return write_private(path, _pem(key))


def local_key_file(stack: LocalStack, folder: Path) -> Path:
    """The local stack's fleet key written to ``folder`` for the fetchers started there."""
    return write_key(local_key(stack), folder / "fleet-key.pem")


def pins_from_outputs(outputs: dict[str, str]) -> list[str]:
    """The fleet keys a deployed stack tells desktops to pin (its ``FleetKeys`` output)."""
    return sorted(fleet.pins(outputs.get(OUTPUT, "").replace(",", " ").split()))


def pins_toml(pins: list[str]) -> str:
    """The ``[client]`` lines that pin ``pins``; a warning when there is none."""
    if not pins:
        return (
            "# no fleet key is published (the stack's FleetKeys parameter is empty):\n"
            "# desktops refuse every result until client.fleet_keys lists one\n"
        )
    listed = ", ".join(f'"{pin}"' for pin in pins)
    return f"[client]\nfleet_keys = [{listed}]\n"
