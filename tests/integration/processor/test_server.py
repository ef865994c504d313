"""The reference processor over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from processor.server import ProcessorServer, serve
from tests import samples


@pytest.fixture(scope="module")
def server() -> Iterator[ProcessorServer]:
    running = serve("127.0.0.1", 0, max_bytes=2_000_000, time_limit=20)
    yield running
    running.shutdown()


def post(server: ProcessorServer, path: Path, **params: object) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{server.port}/analyze",
        data=path.read_bytes(),
        headers={
            "Content-Type": "application/octet-stream",
            "X-Fpw-Job": "file-00000000-0000-4000-8000-000000000001",
            "X-Fpw-Params": json.dumps(params),
        },
        timeout=30,
    )


def test_each_sample_is_analysed(server: ProcessorServer, tmp_path: Path) -> None:
    files = {
        "image": samples.make_png(tmp_path / "a.png"),
        "pdf": samples.make_pdf(tmp_path / "b.pdf", ["hello"]),
        "text": samples.make_text(tmp_path / "c.txt", "a b"),
    }
    for kind, path in files.items():
        answer = post(server, path)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["kind"] == kind


def test_bad_inputs_get_permanent_errors_and_the_server_stays_healthy(
    server: ProcessorServer, tmp_path: Path
) -> None:
    cases = [
        (samples.make_encrypted_pdf(tmp_path / "e.pdf"), {}, 400),
        (samples.make_bomb_png(tmp_path / "bomb.png"), {}, 413),
        (samples.make_text(tmp_path / "t.txt", "x"), {"profile": "nope"}, 422),
    ]
    for path, params, status in cases:
        answer = post(server, path, **params)
        assert answer.status_code == status
        assert answer.json()["error"]
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2_000_001)
    assert post(server, big).status_code == 413
    health = requests.get(f"http://127.0.0.1:{server.port}/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_an_analysis_over_its_time_limit_is_cut_off(tmp_path: Path) -> None:
    slow = serve("127.0.0.1", 0, time_limit=0.001)
    try:
        answer = post(slow, samples.make_pdf(tmp_path / "p.pdf", ["page"]))
        assert answer.status_code == 504
        assert "longer than its limit" in answer.json()["error"]
        assert requests.get(f"http://127.0.0.1:{slow.port}/health", timeout=5).status_code == 200
    finally:
        slow.shutdown()
