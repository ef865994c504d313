"""Key export and import on a replacement computer, through the Python API."""

from __future__ import annotations

from pathlib import Path

import pytest

import client
from client.keystore import KeyStore
from infra.admin import register_client
from infra.local.stack import LocalStack
from infra.local.up import System
from shared.errors import ConfigError
from tests import samples
from tests.helpers import client_settings, scaled


def test_an_exported_key_imported_on_a_fresh_profile_reads_an_old_result(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    system.start_fetcher()
    old = client_settings(stack, tmp_path / "old computer")
    with client.Client(old) as first:
        register_client(stack.admin_settings(), first.client_id, "old computer")
        file = tmp_path / "minutes.txt"
        samples.make_text(file, "the old computer sent this\n")
        job = first.submit(file, {"profile": "default"})
        result = job.result(timeout=scaled(60))
        assert result.json()["kind"] == "text" and result.content_type == "application/json"
        assert job.wait() is job and repr(job).endswith("DONE)")
        KeyStore(old.client.state_dir).export(tmp_path / "backup.pem", "a long passphrase")
        old_id, old_result = first.client_id, result.data

    new = client_settings(stack, tmp_path / "new computer")
    store = KeyStore(new.client.state_dir)
    with pytest.raises(ConfigError, match="wrong passphrase"):
        store.import_key(tmp_path / "backup.pem", "a wrong passphrase")
    store.import_key(tmp_path / "backup.pem", "a long passphrase")
    with client.Client(new) as second:
        assert second.client_id == old_id
        (recovered,) = second.recover()
        assert recovered.name == f"{job.id}.result.json"
        assert recovered.read_bytes() == old_result
        assert second.recover() == []  # saved once


def test_a_failed_job_raises_its_reason_from_the_api(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    system.start_fetcher()
    with client.Client(client_settings(stack, tmp_path)) as api:
        register_client(stack.admin_settings(), api.client_id, "api failure test")
        broken = tmp_path / "broken.pdf"
        broken.write_bytes(b"not a pdf\n")
        with pytest.raises(client.JobFailed, match="(?i)pdf"):
            api.submit(broken).result(timeout=scaled(60))
