"""Six fetchers, five clients, one of them with 200 jobs queued first: every
job is processed exactly once, and the small clients do not wait behind the
big one."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.engine import Engine
from infra.admin import register_client
from infra.local.stack import LocalStack
from infra.local.up import System
from shared.aws import Aws
from shared.record import Status, parse_iso
from shared.table import JobTable
from tests import samples
from tests.helpers import client_settings, wait_for


def engine_for(stack: LocalStack, home: Path, name: str) -> Engine:
    settings = client_settings(stack, home / name)
    engine = Engine(settings, Aws(settings.aws, f"test-{name}"))
    register_client(stack.admin_settings(), engine.client_id, name)
    return engine


def submit_many(engine: Engine, folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(count):
        path = folder / f"doc-{i:03d}.txt"
        samples.make_text(path, f"{folder.name} document {i}\n")
        file_id = engine.submit(path, {})
        assert file_id
        ids.append(file_id)
    for file_id in ids:
        engine.wait_uploaded(file_id, 120)
    return ids


@pytest.mark.slow
def test_small_clients_finish_before_the_big_clients_last_hundred_start(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    engines = [engine_for(stack, tmp_path, f"client-{n}") for n in range(5)]
    try:
        big = submit_many(engines[0], tmp_path / "big", 200)
        small = [
            file_id
            for n, engine in enumerate(engines[1:], start=1)
            for file_id in submit_many(engine, tmp_path / f"small-{n}", 25)
        ]
    finally:
        for engine in engines:
            engine.stop()
    for n in range(6):
        system.start_fetcher(f"fetcher-{n}", poll_seconds=0.3, stream_readers=0)

    admin = Aws(stack.admin_settings(), "test-admin")
    table = JobTable(admin.dynamodb, admin.settings.table)
    everything = big + small

    def finished() -> list[str]:
        return [f for f in everything if (j := table.get(f)) is None or not j.status.finished]

    wait_for(lambda: not finished(), timeout=400, interval=2.0, what="all 300 jobs")

    done = {f: table.get(f) for f in everything}
    assert all(j is not None and j.status is Status.COMPLETED for j in done.values())
    # Exactly once: one claim each, and one processor call each.
    assert all(j is not None and j.attempts == 1 for j in done.values())
    calls = system.parts["processor"].output()
    assert all(calls.count(f'"job": "{f}"') == 1 for f in everything)
    holders = {j.holder for j in done.values() if j is not None}
    assert len(holders) >= 4, "the work should be spread over the fleet"

    def at(value: str | None) -> float:
        assert value is not None
        return parse_iso(value).timestamp()

    last_small_done = max(at(done[f].processed) for f in small)  # type: ignore[union-attr]
    big_in_order = sorted(big, key=lambda f: done[f].rank)  # type: ignore[union-attr]
    last_hundred_first_start = min(at(done[f].assigned) for f in big_in_order[100:])  # type: ignore[union-attr]
    early = sorted(
        (done[f].rank, done[f].assigned)  # type: ignore[union-attr]
        for f in big_in_order[100:]
        if at(done[f].assigned) < last_small_done  # type: ignore[union-attr]
    )
    small_ranks = sorted(done[f].rank for f in small)  # type: ignore[union-attr]
    assert last_small_done <= last_hundred_first_start, (early[:5], small_ranks[-3:])
