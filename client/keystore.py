"""Where the client's private key lives: the OS keyring, else an owner-only file.

The key is created once and then only ever replaced by an import: a new key
would make every pending result unreadable. Export writes it as an
encrypted PKCS#8 PEM (passphrase-protected) so a replacement computer can
import it and still read results sealed to the old one.

The keyring entry is named after the state folder, so two profiles on one
account keep two keys. A key file found in the state folder wins over the
keyring only when the keyring has no entry (a profile made without one).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import ConfigError
from shared.keys import KEY_FILE, load_or_create_key
from shared.private import private_dir, write_private

log = logging.getLogger(__name__)

SERVICE = "fpw"


def _keyring() -> Any | None:
    """The usable keyring backend, or None (not installed, or the fail/null backend)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    name = type(backend).__module__ + "." + type(backend).__name__
    if isinstance(backend, fail.Keyring) or "null" in name.lower() or "fail" in name.lower():
        return None
    return backend


def _pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _parse(pem: bytes, passphrase: bytes | None, what: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError as exc:
        # Raised when a passphrase is given for a plain key, or none for an encrypted one.
        raise ConfigError(f"{what}: {exc}", hint="check the passphrase") from exc
    except ValueError as exc:
        raise ConfigError(
            f"{what} cannot be opened: wrong passphrase or not a key file",
            hint="type the passphrase used when the key was exported",
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{what} is not a P-256 private key")
    return key


class KeyStore:
    """The key of one profile (state folder)."""

    def __init__(self, state_dir: Path, *, use_keyring: bool = True) -> None:
        self.state_dir = state_dir.expanduser()
        # The key file, the state database and the logs live here: owner-only.
        private_dir(self.state_dir)
        self.file = self.state_dir / KEY_FILE
        self.backend = _keyring() if use_keyring else None
        self.username = f"client-key:{self.state_dir.resolve()}"

    @property
    def where(self) -> str:
        """Human-readable place of the key, for the settings window."""
        if self.backend is not None and self._from_keyring() is not None:
            return f"the system keyring ({type(self.backend).__name__})"
        return f"the file {self.file} (readable by you only)"

    def _from_keyring(self) -> bytes | None:
        if self.backend is None:
            return None
        try:
            value = self.backend.get_password(SERVICE, self.username)
        except Exception as exc:  # keyring backends raise their own errors
            log.warning("the keyring cannot be read (%s); using the key file", exc)
            return None
        return str(value).encode("ascii") if value else None

    def exists(self) -> bool:
        return self._from_keyring() is not None or self.file.exists()

    def load_or_create(self) -> ec.EllipticCurvePrivateKey:
        """The profile's key, created on first use (in the keyring where one exists)."""
        stored = self._from_keyring()
        if stored is not None:
            return _parse(stored, None, "the key in the keyring")
        if self.file.exists() or self.backend is None:
            return load_or_create_key(self.state_dir)
        key = ec.generate_private_key(ec.SECP256R1())
        if not self._to_keyring(key):
            return load_or_create_key(self.state_dir)
        log.info("created a new key pair in the system keyring")
        return key

    def _to_keyring(self, key: ec.EllipticCurvePrivateKey) -> bool:
        if self.backend is None:
            return False
        try:
            self.backend.set_password(SERVICE, self.username, _pem(key).decode("ascii"))
        except Exception as exc:
            log.warning("the keyring refused the key (%s); keeping it in a file", exc)
            return False
        return True

    def export(self, target: Path, passphrase: str) -> None:
        """Write the key, encrypted with ``passphrase``, to ``target`` (owner-only)."""
        if len(passphrase) < 8:
            raise ConfigError("the passphrase must have at least 8 characters")
        pem = _pem(self.load_or_create(), passphrase.encode("utf-8"))
        target = target.expanduser()
        # Encrypted, but still owner-only; the folder is the user's choice.
        tmp = target.with_name(f".{target.name}.new")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        tmp.replace(target)
        log.info("key exported to %s", target)

    def import_key(self, source: Path, passphrase: str) -> ec.EllipticCurvePrivateKey:
        """Replace this profile's key with an exported one (the only way a key changes)."""
        try:
            pem = source.expanduser().read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {source}: {exc}") from exc
        key = _parse(pem, passphrase.encode("utf-8") or None, f"the key file {source.name}")
        if self._to_keyring(key):
            self.file.unlink(missing_ok=True)
        else:
            write_private(self.file, _pem(key))
        log.info("key imported from %s", source.name)
        return key


def load_client_key(state_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The key every face of the client uses (keyring first, then the file)."""
    return KeyStore(state_dir).load_or_create()
