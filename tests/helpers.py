"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from infra.localstack import LocalStack
from shared.config import Settings

T = TypeVar("T")


def wait_for(
    check: Callable[[], T], timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or check}: {last!r}")


def client_settings(stack: LocalStack, home: Path) -> Settings:
    """A desktop profile under ``home`` with the client role of the local stack."""
    settings = Settings()
    settings.aws = stack.role_settings("client")
    settings.client.inbox = home / "inbox"
    settings.client.state_dir = home / "state"
    settings.client.poll_seconds = 0.3
    return settings
