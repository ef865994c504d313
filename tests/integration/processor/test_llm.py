"""The llm profile against a real chat-completions server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from processor.llm import LlmConfig
from processor.server import ProcessorServer
from tests import samples

KEY = "sk-test-0123456789"


class ChatServer(ThreadingHTTPServer):
    """Speaks the chat-completions API; remembers what it was sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.requests: list[dict[str, Any]] = []
        self.fail_with: int | None = None


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if self.server.fail_with:
            answer: dict[str, Any] = {"error": {"message": "model overloaded"}}
            status = self.server.fail_with
        else:
            content = body["messages"][0]["content"]
            kind = "image" if isinstance(content, list) else "text"
            answer = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"I read the {kind}."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
            }
            status = 200
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def processor(chat: ChatServer) -> Iterator[ProcessorServer]:
    config = LlmConfig(
        url=f"http://127.0.0.1:{chat.server_port}/v1", model="tiny-model", key=KEY, timeout=10
    )
    running = ProcessorServer("127.0.0.1", 0, time_limit=60, llm=config).start()
    yield running
    running.shutdown()


def post(server: ProcessorServer, path: Path, ctype: str, **params: object) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{server.port}/analyze",
        data=path.read_bytes(),
        headers={
            "Content-Type": ctype,
            "X-Fpw-Job": "file-00000000-0000-4000-8000-000000000002",
            "X-Fpw-Params": json.dumps(params),
        },
        timeout=60,
    )


def test_the_llm_profile_sends_the_text_and_prompt_and_returns_the_answer(
    chat: ChatServer, processor: ProcessorServer, tmp_path: Path
) -> None:
    chat.requests.clear()
    doc = samples.make_docx(tmp_path / "m.docx", ["The shipment arrives on Friday."])
    answer = post(processor, doc, "application/octet-stream", profile="llm", prompt="When?")
    assert answer.status_code == 200, answer.text
    llm = answer.json()["analysis"]["llm"]
    assert llm["answer"] == "I read the text." and llm["model"] == "tiny-model"
    assert llm["usage"]["total_tokens"] == 17 and llm["input"] == "text"
    (sent,) = chat.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == f"Bearer {KEY}"
    content = sent["body"]["messages"][0]["content"]
    assert content.startswith("When?") and "arrives on Friday" in content
    assert KEY not in answer.text


def test_the_llm_profile_sends_an_image_as_a_data_url(
    chat: ChatServer, processor: ProcessorServer, tmp_path: Path
) -> None:
    chat.requests.clear()
    image = samples.make_png(tmp_path / "a.png", size=(120, 80))
    answer = post(processor, image, "image/png", profile="llm", prompt="What is this?")
    assert answer.json()["analysis"]["llm"]["answer"] == "I read the image."
    parts = chat.requests[0]["body"]["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "What is this?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_a_failing_endpoint_is_a_retryable_error_and_a_key_in_params_is_ignored(
    chat: ChatServer, processor: ProcessorServer, tmp_path: Path
) -> None:
    chat.requests.clear()
    chat.fail_with = 500
    try:
        text = samples.make_text(tmp_path / "t.txt", "hello there\n")
        answer = post(processor, text, "text/plain", profile="llm", api_key="sk-from-a-job")
    finally:
        chat.fail_with = None
    assert answer.status_code == 503
    assert "model overloaded" in answer.json()["error"]
    assert chat.requests[0]["auth"] == f"Bearer {KEY}"


def test_health_lists_the_llm_profile_when_configured(processor: ProcessorServer) -> None:
    health = requests.get(f"http://127.0.0.1:{processor.port}/health", timeout=5).json()
    assert "llm" in health["profiles"]


def test_the_llm_profile_is_declared_with_its_prompt_when_configured(
    processor: ProcessorServer,
) -> None:
    from shared import profiles

    body = requests.get(f"http://127.0.0.1:{processor.port}/profiles", timeout=5).content
    llm = profiles.loads(body).find("llm")
    assert llm is not None and "language model" in llm.description
    prompt = {q.name: q for q in llm.params}["prompt"]
    assert prompt.type == "string" and str(prompt.default).startswith("Summarise")
