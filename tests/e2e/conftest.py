"""End-to-end fixtures: real processes (processor, fetchers, watcher, client)
against the session's local stack, each test in a deployment of its own.

A watcher sweeps every job and object it can see, and a fetcher takes any
queued job: on a deployment shared with other tests, their leftovers (a
thousand undelivered receipts, jobs queued for no fetcher) would slow or
fail a test that never made them. Here ``stack`` is a fresh deployment of the
template on the session's server (about a second), removed with all its data
when the test ends, however it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client.engine import Engine
from infra.admin import register_client
from infra.local.stack import LocalStack
from infra.local.up import System
from shared.aws import Aws
from shared.config import Settings
from tests import helpers


@pytest.fixture
def stack(stack: LocalStack) -> Iterator[LocalStack]:
    """The session's server, with a deployment of the template for this test alone."""
    with helpers.own_deployment(stack) as own:
        yield own


@pytest.fixture
def system(stack: LocalStack, tmp_path: Path) -> Iterator[System]:
    """A processor of its own; tests add fetchers, a watcher and clients."""
    system = System(stack, tmp_path / "system")
    system.start_processor()
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture
def client_settings(stack: LocalStack, tmp_path: Path) -> Settings:
    return helpers.client_settings(stack, tmp_path / "client")


@pytest.fixture
def engine(stack: LocalStack, client_settings: Settings) -> Iterator[Engine]:
    """An in-process client engine with the client role and a registered key."""
    engine = Engine(client_settings, Aws(client_settings.aws, "test-client"))
    register_client(stack.admin_settings(), engine.client_id, "test client")
    try:
        yield engine
    finally:
        engine.stop()
