"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from infra import fleetkey
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
    settings.client.fleet_keys = fleetkey.local_pins(stack)
    return settings


def run_fpw(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``fpw ARGS`` in a fresh process with only the given settings file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    env["FPW_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
