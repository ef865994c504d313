"""Fixtures shared by every test tier.

The local stack (moto's server with the template deployed, IAM enforced) is
started once per test session. Integration tests share its deployment: they
create their own jobs and keys with fresh ids and must not assume an empty
table. End-to-end tests each get a deployment of their own on the same server
(tests/e2e/conftest.py). Deadlines, per-test timeouts included, are stretched
by ``helpers.time_factor`` on a busy machine.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from infra.local.stack import LocalStack, start_local_stack
from tests.helpers import TIME_FACTOR_VARIABLE, time_factor

# Nothing from the developer's environment may leak into the parts under test.
# FPW_REQUIRE_CONTAINERS is the test run's own switch (tests/containers/), not a setting.
for name in list(os.environ):
    if name.startswith(("FPW_", "AWS_")) and name != "FPW_REQUIRE_CONTAINERS":
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


def pytest_report_header(config: pytest.Config) -> str:
    setting = os.environ.get(TIME_FACTOR_VARIABLE, "1")
    load = os.getloadavg()[0]
    return f"time factor: {time_factor():.1f} ({TIME_FACTOR_VARIABLE}={setting}, load {load:.1f})"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """Stretch the test's timeout (its marker's, or the configured one) by the
    time factor, as its waits are: a slow machine must not fail a test its
    deadlines would have let pass."""
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        base = marker.args[0] if marker.args else marker.kwargs.get("timeout")
    else:
        base = item.config.getoption("timeout", None) or item.config.getini("timeout")
    factor = time_factor()
    if base and float(base) > 0 and factor > 1:
        item.add_marker(pytest.mark.timeout(float(base) * factor), append=False)
    return (yield)
