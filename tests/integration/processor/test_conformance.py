"""``fpw processor conformance``: passes the reference container, fails a broken one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from processor.conformance import Conformance, Failed
from processor.server import ProcessorServer
from shared.cli import main


class Broken(BaseHTTPRequestHandler):
    """Gets the easy part right and the rest wrong, as a hurried container might.

    Healthy and 200 on any file, but: unknown profiles and bad params are
    analysed anyway, a corrupt file is a 500 in plain text (the fleet would
    retry it forever), and results carry no Content-Type.
    """

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _answer(self, status: int, body: bytes, ctype: str | None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(200, json.dumps({"status": "ok"}).encode(), "application/json")
        else:
            self._answer(200, b"hello", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if body.startswith(b"\x89PNG") and b"IHDR" not in body:
            self._answer(500, b"Traceback: decoder crashed", "text/plain")
        else:
            self._answer(200, b'{"words": 3}', None)


@pytest.fixture(scope="module")
def reference() -> Iterator[ProcessorServer]:
    running = ProcessorServer("127.0.0.1", 0, time_limit=60).start()
    yield running
    running.shutdown()


@pytest.fixture()
def broken() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_reference_processor_is_conformant(
    reference: ProcessorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["processor", "conformance", f"http://127.0.0.1:{reference.port}"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out and out.strip().endswith("checks passed")
    assert "PASS  profiles are listed (optional): default, metadata, ocr, summary" in out


class Plain(Broken):
    """Right in every check, but lists no profiles (404), or a crafted document."""

    crafted = False

    def do_GET(self) -> None:
        if self.path == "/profiles" and self.crafted:
            body = {"profiles": [{"name": "<b>x</b>", "params": {"p": {"type": "code"}}}]}
            self._answer(200, json.dumps(body).encode(), "application/json")
        elif self.path == "/health":
            self._answer(200, json.dumps({"status": "ok"}).encode(), "application/json")
        else:
            self._answer(404, json.dumps({"error": "not found"}).encode(), "application/json")


@pytest.mark.parametrize("crafted", [False, True])
def test_listing_profiles_is_optional_but_what_is_listed_must_be_usable(crafted: bool) -> None:
    handler = type("Handler", (Plain,), {"crafted": crafted})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check = Conformance(f"http://127.0.0.1:{server.server_port}", timeout=10).profiles
        if crafted:
            with pytest.raises(Failed, match="not a usable profiles document"):
                check()
        else:
            assert "not offered (optional" in check()
    finally:
        server.shutdown()


def test_a_container_that_breaks_the_contract_fails_with_a_list_of_failures(
    broken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["processor", "conformance", broken, "--timeout", "10"])
    out = capsys.readouterr().out
    assert code == 1
    failed = {line.split(":")[0].removeprefix("FAIL").strip() for line in out.splitlines()}
    assert {
        "analyze a text file",
        "unknown profile is 422",
        "malformed X-Fpw-Params is 4xx",
        "corrupt file is not retried (no 5xx)",
        "unknown path is 4xx",
    } <= failed
    assert "PASS  health" in out
    assert "not conformant" in out


def test_a_container_that_is_not_there_fails_every_check() -> None:
    results = Conformance("http://127.0.0.1:9", timeout=2).run()
    assert results and not any(r.ok for r in results)
    assert "no answer" in results[0].detail


def test_the_processor_command_still_serves_by_default() -> None:
    from shared.cli import build_parser

    args = build_parser().parse_args(["processor", "--port", "0"])
    assert args.func.__name__ == "run" and args.port == 0
