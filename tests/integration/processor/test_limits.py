"""The reference processor's limits over real HTTP: capacity (503 with Retry-After),
a memory limit per worker, element caps for Word documents, and a 4xx, never a
500, for a file that trips a parser's limit. Every document is made by the test."""

from __future__ import annotations

import io
import json
import socket
import sys
import tracemalloc
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from processor import documents
from processor.errors import AnalysisError
from processor.server import ProcessorServer
from tests import samples
from tests.helpers import wait_for

JOB = "file-00000000-0000-4000-8000-0000000000aa"
EMPTY_PARAGRAPHS = 3_000_000


def post(server: ProcessorServer, data: bytes, **params: object) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{server.port}/analyze",
        data=data,
        headers={
            "Content-Type": "application/octet-stream",
            "X-Fpw-Job": JOB,
            "X-Fpw-Params": json.dumps(params),
        },
        timeout=60,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ProcessorServer]:
    running = ProcessorServer(
        "127.0.0.1", 0, time_limit=60, max_active=2, worker_memory=3 << 30
    ).start()
    yield running
    running.shutdown()


def empty_paragraphs_docx(count: int) -> bytes:
    """A Word document of ``count`` empty paragraphs: a few KB zipped, tens of MB unpacked."""
    body = (
        b'<?xml version="1.0"?><w:document xmlns:w="'
        b'http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + b"<w:p/>" * count
        + b"</w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", body)
    return out.getvalue()


def deep_page_tree_pdf(depth: int) -> bytes:
    """A PDF whose page tree nests ``depth`` /Pages nodes (pypdf reads at most 100)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for n in range(2, depth + 2):
        objects.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (n + 1))
    objects.append(b"<< /Type /Page /MediaBox [0 0 10 10] >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def test_a_word_document_of_millions_of_empty_paragraphs_is_refused_in_little_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "empty.docx"
    path.write_bytes(empty_paragraphs_docx(EMPTY_PARAGRAPHS))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(AnalysisError, match="more than 200000 paragraphs") as error:
            documents.analyze_docx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.value.status == 413
    assert peak < 64 * 1024 * 1024, f"peak {peak // 1024 // 1024} MB"


def test_a_word_document_of_too_many_elements_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "MAX_DOCX_ELEMENTS", 1000)
    path = tmp_path / "many.docx"
    path.write_bytes(empty_paragraphs_docx(2000))
    with pytest.raises(AnalysisError, match="more than 1000 XML elements") as error:
        documents.analyze_docx(path)
    assert error.value.status == 413


def test_files_past_a_parser_limit_get_a_4xx_not_a_500(server: ProcessorServer) -> None:
    docx = post(server, empty_paragraphs_docx(EMPTY_PARAGRAPHS))
    assert docx.status_code == 413, docx.text
    assert "paragraphs" in docx.json()["error"]
    pdf = post(server, deep_page_tree_pdf(150))
    assert pdf.status_code == 413, pdf.text
    assert "page tree depth" in pdf.json()["error"]
    health = requests.get(f"http://127.0.0.1:{server.port}/health", timeout=5).json()
    assert health["status"] == "ok" and health["capacity"] == 2


def test_an_empty_body_gets_a_defined_answer(server: ProcessorServer) -> None:
    answer = post(server, b"")
    assert answer.status_code == 200, answer.text
    assert answer.json()["kind"] == "text" and answer.json()["analysis"]["words"] == 0


def test_requests_beyond_capacity_are_answered_busy_then_served(
    server: ProcessorServer, tmp_path: Path
) -> None:
    """Two uploads that never finish hold both slots; every other request is a 503 with
    Retry-After, its body unread, until a slot is free again."""
    holders = []
    for _ in range(server.max_active):
        held = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        held.sendall(
            b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n"
            b"X-Fpw-Job: " + JOB.encode() + b"\r\n\r\nthe first bytes of a gigabyte"
        )
        holders.append(held)
    text = samples.make_text(tmp_path / "t.txt", "wait your turn").read_bytes()
    try:
        # The holders' requests are read by the server's threads: wait until both hold.
        wait_for(lambda: post(server, text).status_code == 503, what="both slots to be held")
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: post(server, text), range(6)))
        assert {a.status_code for a in answers} == {503}
        assert all(a.headers["Retry-After"].isdigit() for a in answers)
        assert "busy" in answers[0].json()["error"]
    finally:
        for held in holders:
            held.close()
    wait_for(lambda: post(server, text).status_code == 200, what="a slot to be freed")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_worker_processes_run_under_the_memory_limit(server: ProcessorServer) -> None:
    assert post(server, b"a b c").status_code == 200
    workers = [w.process.pid for w in server.analyzer._idle]
    assert workers
    for pid in workers:
        limits = Path(f"/proc/{pid}/limits").read_text(encoding="utf-8")
        (line,) = [x for x in limits.splitlines() if x.startswith("Max address space")]
        assert str(3 << 30) in line.split(), line
