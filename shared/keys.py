"""The client's P-256 key pair on disk.

Created once and kept: a key regenerated at start-up would make every
pending result unreadable. The private key file is readable by its owner
only; the tray app may move it to the operating system's keyring.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import ConfigError
from shared.private import private_dir

KEY_FILE = "client-key.pem"


def load_or_create_key(state_dir: Path) -> ec.EllipticCurvePrivateKey:
    # The key, the state database and the spool live here: the folder is
    # owner-only (0700) before anything is written in it, and stays so.
    private_dir(state_dir)
    path = state_dir / KEY_FILE
    if path.exists():
        return load_key(path)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: two processes starting at once must not each write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_key(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the client key {path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{path} is not a P-256 private key")
    return key
