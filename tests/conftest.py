"""Fixtures shared by every test tier.

The local stack (moto's server with the template deployed, IAM enforced) is
started once per test session and shared: tests create their own jobs and
keys with fresh ids and must not assume an empty table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.localstack import LocalStack, start_local_stack

# Nothing from the developer's environment may leak into the parts under test.
for name in list(os.environ):
    if name.startswith(("FPW_", "AWS_")):
        del os.environ[name]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    home: Path = tmp_path_factory.mktemp("stack")
    local = start_local_stack(home, log_file=home / "server.log")
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    """Tests never touch the keyring of the machine they run on."""
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(before)
