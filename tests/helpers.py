"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from infra import fleetkey
from infra.local.stack import LocalStack, deploy_copy, remove_copy
from shared.config import Settings

T = TypeVar("T")

TIME_FACTOR_VARIABLE = "TEST_TIME_FACTOR"
"""Multiplies every deadline of the tests (not ``FPW_``: those are cleared)."""
MOST_LOAD_FACTOR = 4.0
"""The most a busy machine's load raises the factor by, on top of the variable."""


def time_factor() -> float:
    """How much longer than on a quiet machine the tests wait for anything.

    ``TEST_TIME_FACTOR`` (default 1) times the machine's load per core (the
    last minute's), when that is above 1, up to ``MOST_LOAD_FACTOR``: a busy
    machine is slow, not broken. Read afresh at each wait, as the load changes.
    """
    raw = os.environ.get(TIME_FACTOR_VARIABLE, "1")
    try:
        factor = float(raw)
    except ValueError:
        raise ValueError(f"{TIME_FACTOR_VARIABLE} must be a number, not {raw!r}") from None
    if factor <= 0:
        raise ValueError(f"{TIME_FACTOR_VARIABLE} must be above 0, not {raw!r}")
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return factor * min(max(per_core, 1.0), MOST_LOAD_FACTOR)


def scaled(seconds: float) -> float:
    """A deadline of ``seconds`` on a quiet machine, stretched by ``time_factor``."""
    return seconds * time_factor()


def wait_for(
    check: Callable[[], T], timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; fail the test on timeout.

    ``timeout`` is for a quiet machine: it is stretched by ``time_factor``.
    """
    timeout = scaled(timeout)
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
    """``fpw ARGS`` in a fresh process with only the given settings file (``timeout``
    stretched by ``time_factor``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    env["FPW_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        check=False,
    )


def session_network(stack: LocalStack) -> dict[str, str]:
    """The session's VPC and two of its subnets, as the template's VpcId and SubnetIds:
    a fleet deployed into them can be destroyed again (moto cannot delete a VPC a
    stack made while the fleet's resources hold on to it)."""
    from shared.aws import Aws

    ec2 = Aws(stack.admin_settings(), "test-admin").client("ec2")
    subnets = [
        s["SubnetId"]
        for s in ec2.describe_subnets()["Subnets"]
        if s["CidrBlock"] in ("10.42.16.0/20", "10.42.32.0/20")
    ][:2]
    vpc = ec2.describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
    return {"VpcId": vpc, "SubnetIds": ",".join(subnets)}


@contextlib.contextmanager
def own_deployment(stack: LocalStack) -> Iterator[LocalStack]:
    """A deployment of the template of its own on ``stack``'s server, removed
    with all its data afterwards (also when the test fails).

    Parts given its settings see only what was made in it: a watcher sweeps
    everything it can see, and fetchers take any queued job, so leftovers of
    other tests (or theirs of ours) cannot reach them.
    """
    copy = deploy_copy(stack, f"t-{uuid.uuid4().hex[:10]}")
    try:
        yield copy
    finally:
        remove_copy(copy)


@dataclass
class Launched:
    """A command started as a user starts it, with its output read as it comes."""

    proc: subprocess.Popen[str]
    lines: list[str]
    reader: threading.Thread


def launch_fpw(folder: Path, *args: str) -> Launched:
    """``fpw ARGS`` in ``folder`` without the test run's ``FPW_``/``AWS_`` variables
    (the user's environment), its stdout and stderr collected line by line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stdout = proc.stdout
    assert stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    return Launched(proc, lines, reader)
