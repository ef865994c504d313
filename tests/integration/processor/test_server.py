"""The reference processor over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from processor.server import ProcessorServer
from shared.errors import TransientError
from tests import samples


@pytest.fixture(scope="module")
def server() -> Iterator[ProcessorServer]:
    running = ProcessorServer("127.0.0.1", 0, max_bytes=2_000_000, time_limit=20).start()
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
        "docx": samples.make_docx(tmp_path / "d.docx", ["a word document"]),
    }
    for kind, path in files.items():
        answer = post(server, path)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["kind"] == ("text" if kind == "docx" else kind)


def test_text_in_a_scanned_pdf_and_an_image_is_read_in_the_child_process(
    server: ProcessorServer, tmp_path: Path
) -> None:
    image = samples.make_text_image(tmp_path / "sign.png", ["Platform 9", "Exit North"])
    ocr = post(server, image).json()["analysis"]["ocr"]
    assert ocr["text"].splitlines() == ["Platform 9", "Exit North"]
    assert ocr["device"] in ("cpu", "cuda") and ocr["duration_ms"] >= 0
    scan = samples.make_scanned_pdf(tmp_path / "scan.pdf", [["Delivery note 77"], ["Signed"]])
    pages = post(server, scan, split=["2"]).json()["analysis"]
    assert [p["text"] for p in pages["text_pages"]] == ["Delivery note 77", "Signed"]
    assert pages["parts"][0]["pages"] == [2]


def test_workers_are_warm_before_files_arrive_and_retire_after_worker_jobs(
    tmp_path: Path,
) -> None:
    image = samples.make_text_image(tmp_path / "sign.png", ["Gate 4"])
    reused = ProcessorServer("127.0.0.1", 0, time_limit=60, worker_jobs=2).start()
    try:
        (first,) = reused.analyzer._idle
        loaded = [post(reused, image).json()["analysis"]["ocr"] for _ in range(3)]
        (now,) = reused.analyzer._idle
    finally:
        reused.shutdown()
    # The models were loaded before each file arrived, also in the worker that
    # replaced the first after its two files, and every file was read.
    assert [ocr["models_loaded"] for ocr in loaded] == [False, False, False]
    assert all(ocr["text"] == "Gate 4" for ocr in loaded)
    assert not first.process.is_alive() and now is not first


def test_a_worker_that_ran_over_time_is_replaced(tmp_path: Path) -> None:
    strict = ProcessorServer("127.0.0.1", 0, time_limit=60).start()
    try:
        strict.analyzer.time_limit = 0.001
        assert post(strict, samples.make_pdf(tmp_path / "p.pdf", ["page"])).status_code == 504
        strict.analyzer.time_limit = 60
        answer = post(strict, samples.make_text(tmp_path / "t.txt", "still working"))
        assert answer.status_code == 200 and answer.json()["analysis"]["words"] == 2
    finally:
        strict.shutdown()


def test_a_stalled_upload_is_dropped_and_the_server_stays_healthy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from processor.server import Handler

    monkeypatch.setattr(Handler, "timeout", 0.5)
    running = ProcessorServer("127.0.0.1", 0, time_limit=10).start()
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as stalled:
            stalled.sendall(
                b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                b"X-Fpw-Job: file-1\r\n\r\nonly a little"
            )
            assert stalled.recv(100) == b""  # closed by the server, not left hanging
        health = requests.get(f"http://127.0.0.1:{running.port}/health", timeout=5)
        assert health.status_code == 200 and running.analyzer.busy == 0
    finally:
        running.shutdown()


def test_a_null_profile_is_the_default(server: ProcessorServer, tmp_path: Path) -> None:
    answer = post(server, samples.make_text(tmp_path / "t.txt", "a b"), profile=None)
    assert answer.status_code == 200 and answer.json()["profile"] == "default"


def test_a_file_is_taken_by_name_from_a_shared_volume(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    samples.make_text(volume / "file-1.data", "handed over by name\n")
    (tmp_path / "secret.txt").write_text("outside the volume", encoding="utf-8")
    running = ProcessorServer("127.0.0.1", 0, time_limit=20, shared_dir=volume).start()
    bare = ProcessorServer("127.0.0.1", 0, time_limit=20).start()
    try:

        def by_name(server: ProcessorServer, name: str) -> requests.Response:
            return requests.post(
                f"http://127.0.0.1:{server.port}/analyze",
                data=b"",
                headers={"X-Fpw-Job": "file-1", "X-Fpw-Path": name, "Content-Type": "text/plain"},
                timeout=30,
            )

        answer = by_name(running, "file-1.data")
        assert answer.status_code == 200, answer.text
        assert answer.json()["analysis"]["words"] == 4
        assert (volume / "file-1.data").exists()  # the fetcher removes it, not the processor
        assert by_name(running, "../secret.txt").status_code == 400
        assert by_name(running, "missing.data").status_code == 503
        assert by_name(bare, "file-1.data").status_code == 503  # a deployment fault: retry
    finally:
        running.shutdown()
        bare.shutdown()


def test_progress_is_reported_while_a_long_analysis_runs(
    server: ProcessorServer, tmp_path: Path
) -> None:
    scan = samples.make_scanned_pdf(tmp_path / "s.pdf", [["Page one"], ["Page two"], ["Three"]])
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            answer = requests.get(f"http://127.0.0.1:{server.port}/progress/file-p", timeout=5)
            if answer.status_code == 200:
                seen.append(answer.json()["progress"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        answer = requests.post(
            f"http://127.0.0.1:{server.port}/analyze",
            data=scan.read_bytes(),
            headers={"X-Fpw-Job": "file-p", "Content-Type": "application/pdf"},
            timeout=60,
        )
    finally:
        done.set()
        watcher.join()
    assert answer.status_code == 200
    assert any(0 < p < 100 for p in seen) and seen == sorted(seen), seen
    gone = requests.get(f"http://127.0.0.1:{server.port}/progress/file-p", timeout=5)
    assert gone.status_code == 404 and gone.json()["error"]


def test_health_lists_the_profiles_this_processor_serves(server: ProcessorServer) -> None:
    health = requests.get(f"http://127.0.0.1:{server.port}/health", timeout=5).json()
    assert health["profiles"] == ["default", "metadata", "ocr", "summary"]  # no llm configured


def test_profiles_are_declared_with_their_params_and_each_one_is_served(
    server: ProcessorServer, tmp_path: Path
) -> None:
    """What ``GET /profiles`` declares is what a fetcher publishes and a desktop offers."""
    from fetcher import processor_client
    from shared import profiles

    base = f"http://127.0.0.1:{server.port}"
    body = processor_client.profiles(base)
    assert body is not None
    catalog = profiles.loads(body)
    assert catalog.processor == "fpw-reference"
    assert [p.name for p in catalog.profiles] == ["default", "metadata", "ocr", "summary"]
    summary = catalog.find("summary")
    assert summary is not None and "summary" in summary.description
    split = {q.name: q for q in summary.params}["split"]
    assert split.type == "array" and "page ranges" in split.description
    text = samples.make_text(tmp_path / "t.txt", "Herons wait at the pond for fish to pass.")
    for profile in catalog.profiles:  # every declared profile is one the processor takes
        assert post(server, text, profile=profile.name).status_code == 200
    assert processor_client.profiles(base + "/no-such-prefix") is None  # 404: none listed
    with pytest.raises(TransientError, match="did not answer"):  # not up yet: ask again
        processor_client.profiles("http://127.0.0.1:9")


def test_bad_inputs_get_permanent_errors_and_the_server_stays_healthy(
    server: ProcessorServer, tmp_path: Path
) -> None:
    broken_png = tmp_path / "broken.png"
    broken_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    broken_pdf = tmp_path / "broken.pdf"
    broken_pdf.write_bytes(samples.pdf_bytes(["a page"])[:300])
    docx = samples.docx_bytes(["hello"])
    broken_docx = tmp_path / "broken.docx"
    broken_docx.write_bytes(docx[: len(docx) // 2])
    cases: list[tuple[Path, dict[str, object], int, str]] = [
        (samples.make_encrypted_pdf(tmp_path / "e.pdf"), {}, 400, "encrypted"),
        (samples.make_bomb_png(tmp_path / "bomb.png"), {}, 413, "decompression bomb"),
        (broken_png, {}, 400, "corrupt"),
        (broken_pdf, {}, 400, "PDF is corrupt"),
        (broken_docx, {}, 400, "not a readable one"),
        (samples.make_text(tmp_path / "t.txt", "x"), {"profile": "nope"}, 422, "unknown profile"),
        (samples.make_pdf(tmp_path / "p.pdf", ["x"]), {"split": ["2-"]}, 422, "outside"),
    ]
    for path, params, status, words in cases:
        answer = post(server, path, **params)
        assert answer.status_code == status, (path.name, answer.text)
        assert answer.headers["Content-Type"] == "application/json"
        assert words in answer.json()["error"]
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2_000_001)
    assert post(server, big).status_code == 413
    health = requests.get(f"http://127.0.0.1:{server.port}/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_an_analysis_over_its_time_limit_is_cut_off(tmp_path: Path) -> None:
    slow = ProcessorServer("127.0.0.1", 0, time_limit=0.001).start()
    try:
        answer = post(slow, samples.make_pdf(tmp_path / "p.pdf", ["page"]))
        assert answer.status_code == 504
        assert "longer than its limit" in answer.json()["error"]
        assert requests.get(f"http://127.0.0.1:{slow.port}/health", timeout=5).status_code == 200
    finally:
        slow.shutdown()
