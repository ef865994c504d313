"""The key store: keyring when usable, owner-only file otherwise, export/import."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from client.keystore import KeyStore
from shared.errors import ConfigError
from shared.keys import load_or_create_key
from shared.signing import client_id


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(before)


def test_without_a_keyring_the_key_is_an_owner_only_file(tmp_path: Path, no_keyring: None) -> None:
    store = KeyStore(tmp_path / "profile")
    key = store.load_or_create()
    assert store.file.exists()
    assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
    assert "file" in store.where
    again = KeyStore(tmp_path / "profile").load_or_create()
    assert client_id(again.public_key()) == client_id(key.public_key())


def test_with_a_keyring_the_key_never_touches_the_disk(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    store = KeyStore(tmp_path / "profile")
    key = store.load_or_create()
    assert not store.file.exists()
    assert len(memory_keyring.items) == 1 and "keyring" in store.where
    again = KeyStore(tmp_path / "profile").load_or_create()
    assert client_id(again.public_key()) == client_id(key.public_key())
    # Another profile has a key of its own.
    other = KeyStore(tmp_path / "other").load_or_create()
    assert client_id(other.public_key()) != client_id(key.public_key())


def test_a_key_file_made_before_a_keyring_existed_is_still_used(
    tmp_path: Path, no_keyring: None, memory_keyring: MemoryKeyring
) -> None:
    keyring.set_keyring(fail.Keyring())
    old = KeyStore(tmp_path / "profile").load_or_create()
    keyring.set_keyring(memory_keyring)
    now = KeyStore(tmp_path / "profile").load_or_create()
    assert client_id(now.public_key()) == client_id(old.public_key())


def test_an_exported_key_imports_on_a_fresh_profile(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    old = KeyStore(tmp_path / "old")
    key = old.load_or_create()
    exported = tmp_path / "key.pem"
    old.export(exported, "correct horse battery")
    assert b"ENCRYPTED PRIVATE KEY" in exported.read_bytes()
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    fresh = KeyStore(tmp_path / "new")
    fresh.load_or_create()  # the new computer made a key of its own first
    imported = fresh.import_key(exported, "correct horse battery")
    assert client_id(imported.public_key()) == client_id(key.public_key())
    reloaded = KeyStore(tmp_path / "new").load_or_create()
    assert client_id(reloaded.public_key()) == client_id(key.public_key())


def test_a_wrong_passphrase_is_a_clear_error(tmp_path: Path, no_keyring: None) -> None:
    store = KeyStore(tmp_path / "old")
    store.load_or_create()
    store.export(tmp_path / "key.pem", "the right passphrase")
    fresh = KeyStore(tmp_path / "new")
    with pytest.raises(ConfigError, match="wrong passphrase"):
        fresh.import_key(tmp_path / "key.pem", "not the passphrase")
    assert not fresh.file.exists()


def test_a_short_passphrase_is_refused(tmp_path: Path, no_keyring: None) -> None:
    with pytest.raises(ConfigError, match="8 characters"):
        KeyStore(tmp_path).export(tmp_path / "key.pem", "short")


def test_the_state_folder_is_made_owner_only_even_when_it_exists(
    tmp_path: Path, no_keyring: None
) -> None:
    for profile in (tmp_path / "new", tmp_path / "old"):
        if profile.name == "old":
            profile.mkdir(mode=0o755)
            profile.chmod(0o755)
        load_or_create_key(profile)
        assert stat.S_IMODE(profile.stat().st_mode) == 0o700
    KeyStore(tmp_path / "other")
    assert stat.S_IMODE((tmp_path / "other").stat().st_mode) == 0o700
