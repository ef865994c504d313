"""A fetcher publishes its processor's profiles where a desktop reads them."""

from __future__ import annotations

import time

import requests

from infra.local.stack import LocalStack
from infra.local.up import System
from shared import profiles
from shared.aws import Aws


def test_a_starting_fetcher_publishes_what_its_processor_declares(
    system: System, stack: LocalStack
) -> None:
    fetcher = system.start_fetcher("fetcher-profiles")
    deadline = time.monotonic() + 120
    while "published 4 processing profiles" not in fetcher.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the fetcher did not publish the profiles"
        time.sleep(0.5)
    declared = requests.get(f"{system.processor_url}/profiles", timeout=10).content
    client = Aws(stack.role_settings("client"), "test-client")
    assert profiles.read(client.s3, stack.outputs["Bucket"]) == profiles.loads(declared)
