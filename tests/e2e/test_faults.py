"""Network faults between the parts and the local stack (a fault-injecting TCP
proxy, ``tests/faults.py``), and full disks: nothing is lost, nothing is done
twice, nothing stays stuck, and every failure says what to do."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.engine import Engine
from client.state import Phase
from infra.localstack import LocalStack
from infra.up import System
from shared import transitions
from shared.record import Status
from shared.table import JobTable
from tests import samples
from tests.faults import FaultProxy, proxied
from tests.helpers import wait_for
from tests.ledger import RecordingProcessor, admin, chunks_left, completions


@pytest.fixture
def recorder() -> Iterator[RecordingProcessor]:
    processor = RecordingProcessor()
    try:
        yield processor
    finally:
        processor.close()


@pytest.fixture
def proxy(stack: LocalStack) -> Iterator[FaultProxy]:
    with FaultProxy(stack.endpoint, seed=int(os.environ.get("FAULTS_SEED", "7"))) as proxy:
        yield proxy


@pytest.fixture
def behind(
    stack: LocalStack, proxy: FaultProxy, recorder: RecordingProcessor, tmp_path: Path
) -> Iterator[System]:
    """Parts whose every AWS call goes through the proxy, with the recording processor."""
    system = System(proxied(stack, proxy), tmp_path / "behind-proxy")
    system.processor_url = recorder.url
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture
def direct(stack: LocalStack, recorder: RecordingProcessor, tmp_path: Path) -> Iterator[System]:
    """Parts that reach the stack directly, with the recording processor."""
    system = System(stack, tmp_path / "direct")
    system.processor_url = recorder.url
    try:
        yield system
    finally:
        system.stop()


def table(stack: LocalStack) -> JobTable:
    aws = admin(stack)
    return JobTable(aws.dynamodb, aws.settings.table)


def finished(engine: Engine, file_id: str, timeout: float) -> Path:
    """Wait for the drop's result; returns the decrypted result file."""
    drop = engine.wait(file_id, timeout=timeout)
    assert drop.phase is Phase.DONE, drop.error
    assert drop.result_path is not None
    return drop.result_path


def result_of(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_a_lost_answer_to_a_claim_or_to_a_write_back_is_neither_stuck_nor_done_twice(
    stack: LocalStack,
    behind: System,
    proxy: FaultProxy,
    recorder: RecordingProcessor,
    engine: Engine,
    tmp_path: Path,
) -> None:
    # No watcher runs: a job stuck after a lost answer would stay stuck.
    fetcher = behind.start_fetcher("fetcher-cut", heartbeat_seconds=0.5)
    cases = {
        "claim": transitions.IS_QUEUED_AND_FREE.encode(),
        "write-back": b"#status = :completed",
    }
    for name, pattern in cases.items():
        path = tmp_path / f"{name}.txt"
        samples.make_text(path, f"the answer to the {name} is lost\n" * 50)
        proxy.cut_response(pattern)
        file_id = engine.submit(path, {})
        assert file_id
        result = result_of(finished(engine, file_id, timeout=45))
        assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert proxy.cuts_pending() == 0, f"the {name} went through the proxy"
        job = table(stack).get(file_id)
        assert job is not None and job.status is Status.COMPLETED
        assert job.attempts == 1, f"the lost {name} answer cost a claim: {job.last_error}"
        assert recorder.calls[file_id] == 1
        assert completions(stack, [file_id])[file_id] == 1
        # The fetcher knew the job was done and cleaned up itself.
        wait_for(lambda f=file_id: not chunks_left(stack, engine.client_id, [f]), timeout=10)  # type: ignore[misc]
    assert proxy.stats.cut_responses == 2
    assert "to another holder" not in fetcher.output()
