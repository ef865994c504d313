"""Task scale-in protection: what the fetcher asks of the ECS agent, here a
tiny HTTP server standing in for it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fetcher.protection import MAX_MINUTES, TaskProtection


class Agent(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), AgentHandler)
        self.requests: list[tuple[str, str, dict[str, object]]] = []
        self.status = 200
        self.answer: dict[str, object] = {"protection": {}}

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v4/task-id"


class AgentHandler(BaseHTTPRequestHandler):
    server: Agent

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.command, self.path, body))
        data = json.dumps(self.server.answer).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def agent() -> Iterator[Agent]:
    server = Agent()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_held_job_protects_the_task_until_it_is_over(agent: Agent) -> None:
    protection = TaskProtection.from_env(2700.5, {"ECS_AGENT_URI": agent.uri})
    assert protection is not None
    assert protection.set(True) and protection.set(False)
    path = "/v4/task-id/task-protection/v1/state"
    assert agent.requests == [
        ("PUT", path, {"ProtectionEnabled": True, "ExpiresInMinutes": 46}),
        ("PUT", path, {"ProtectionEnabled": False}),
    ]


def test_outside_ecs_there_is_nothing_to_ask() -> None:
    assert TaskProtection.from_env(60, {}) is None


def test_a_refusal_costs_only_the_protection(agent: Agent) -> None:
    agent.answer = {"failure": {"Reason": "TASK_NOT_VALID"}}
    assert TaskProtection(agent.uri, 60).set(True) is False
    agent.answer, agent.status = {}, 500
    assert TaskProtection(agent.uri, 60).set(True) is False
    agent.server_close()
    assert TaskProtection("http://127.0.0.1:9", 60).set(True) is False


def test_the_protection_lapses_within_ecs_bounds() -> None:
    assert TaskProtection("http://agent", 10).minutes == 1
    assert TaskProtection("http://agent", 10**9).minutes == MAX_MINUTES
