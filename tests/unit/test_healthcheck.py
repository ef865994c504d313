"""``python -m infra.healthcheck --aws``: where AWS is, and whether it answers."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from infra.healthcheck import aws_endpoint, main


def test_the_endpoint_comes_from_the_environment_the_settings_file_or_the_region(
    tmp_path: Path,
) -> None:
    config = tmp_path / "fetcher.toml"
    config.write_text('[aws]\nendpoint_url = "http://stack:5000"\n', encoding="utf-8")
    assert aws_endpoint({"FPW_CONFIG": str(config)}) == "http://stack:5000"
    assert aws_endpoint({"FPW_AWS_ENDPOINT_URL": "http://x:1"}) == "http://x:1"
    config.write_text('[aws]\nregion = "eu-west-3"\n', encoding="utf-8")
    assert aws_endpoint({"FPW_CONFIG": str(config)}) == "https://sts.eu-west-3.amazonaws.com"
    assert aws_endpoint({}) == "https://sts.us-east-1.amazonaws.com"


class _Refuses(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        self.send_response(403)  # as AWS answers an unsigned request
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def test_any_http_answer_is_healthy_and_silence_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("FPW_AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
        assert main(["--aws"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("FPW_AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed}")
    assert main(["--aws", "--alive"]) == 1
