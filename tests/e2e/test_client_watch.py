"""Watching folders with the real agent against the local stack: files still
being written, temporary files, files present at start, and several folders
with their own params. A thousand files dropped at once, and the same file
dropped twice, are tests/e2e/test_load.py."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from client.agent import Agent
from client.state import Drop, Phase
from infra.admin import register_client
from infra.local.stack import LocalStack
from tests import samples
from tests.helpers import client_settings, wait_for

StartAgent = Callable[..., Agent]


@pytest.fixture
def start_agent(stack: LocalStack, tmp_path: Path) -> Iterator[StartAgent]:
    agents: list[Agent] = []

    def start(**client: object) -> Agent:
        settings = client_settings(stack, tmp_path)
        settings.client.stable_seconds = 1.0
        for name, value in client.items():
            setattr(settings.client, name, value)
        agent = Agent(settings)
        register_client(stack.admin_settings(), agent.client_id, "watch test")
        agents.append(agent)
        agent.start()
        return agent

    yield start
    for agent in agents:
        agent.stop()


def drops(agent: Agent) -> list[Drop]:
    return agent.engine.state.visible()


def test_a_file_written_slowly_is_uploaded_once_and_complete(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    agent = start_agent()
    target = tmp_path / "inbox" / "recording.csv"
    piece = b"1,2,3,4,5,6,7,8,9\n" * 1000
    with target.open("wb") as out:
        for _ in range(8):  # 8 pieces, 0.5 s apart: longer than stable_seconds in all
            out.write(piece)
            out.flush()
            time.sleep(0.5)
    whole = target.read_bytes()
    (drop,) = wait_for(
        lambda: [d for d in drops(agent) if d.phase is Phase.WAITING], what="the upload"
    )
    time.sleep(1.5)
    assert len(drops(agent)) == 1
    assert drop.job is not None
    assert drop.job.size == len(whole) == 8 * len(piece)
    assert drop.job.sha256 == hashlib.sha256(whole).hexdigest()


def test_temporary_files_are_ignored_and_files_present_at_start_are_taken(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    inbox, scans = tmp_path / "inbox", tmp_path / "scans"
    inbox.mkdir()
    samples.make_text(inbox / "already here.txt", "present before the agent started\n")
    agent = start_agent(folders={str(scans): {"profile": "default", "dpi": 300}})
    for name in ("~$report.docx", ".~lock.report.odt#", "movie.part", "data.tmp", ".DS_Store"):
        (inbox / name).write_bytes(b"temporary\n")
    (scans / ".hidden").write_bytes(b"hidden\n")
    samples.make_text(scans / "page.txt", "a scanned page\n")
    wait_for(
        lambda: len([d for d in drops(agent) if d.phase is Phase.WAITING]) == 2,
        what="two uploads",
    )
    time.sleep(1.5)  # time enough for the ignored files to have been taken
    by_name = {d.name: d for d in drops(agent)}
    assert set(by_name) == {"already here.txt", "page.txt"}
    assert by_name["already here.txt"].params == {}
    assert by_name["page.txt"].params == {"profile": "default", "dpi": 300}
    job = by_name["page.txt"].job
    assert job is not None and job.params == {"profile": "default", "dpi": 300}
