"""The reference analyses on sample files made by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.analysis import analyze
from processor.errors import AnalysisError
from tests import samples


def run(path: Path, ctype: str = "application/octet-stream", **params: object) -> dict:  # type: ignore[type-arg]
    return analyze(path, ctype, dict(params), "file-test")


def test_a_png_gives_format_dimensions_and_a_stable_perceptual_hash(tmp_path: Path) -> None:
    a = run(samples.make_png(tmp_path / "a.png", size=(120, 80)))
    b = run(samples.make_png(tmp_path / "b.png", size=(240, 160)))  # same picture, larger
    assert a["kind"] == "image" and a["content_type"] == "image/png"
    assert (a["analysis"]["width"], a["analysis"]["height"]) == (120, 80)
    assert len(a["analysis"]["perceptual_hash"]) == 16
    same = bin(
        int(a["analysis"]["perceptual_hash"], 16) ^ int(b["analysis"]["perceptual_hash"], 16)
    )
    assert same.count("1") <= 6


def test_a_jpeg_gives_camera_time_and_gps_from_exif(tmp_path: Path) -> None:
    result = run(samples.make_jpeg_with_exif(tmp_path / "p.jpg"))
    exif = result["analysis"]["exif"]
    assert exif["make"] == "Acme" and exif["model"] == "Lab Camera 2"
    assert exif["taken"] == "2026:11:01 09:29:58"
    assert exif["gps"] == {
        "latitude": pytest.approx(48.8582, abs=1e-3),
        "longitude": pytest.approx(2.2945, abs=1e-3),
    }


def test_a_pdf_gives_pages_text_per_page_and_counts(tmp_path: Path) -> None:
    pdf = samples.make_pdf(
        tmp_path / "r.pdf", ["First page says hello", "Second page\nsays goodbye"]
    )
    result = run(pdf, "application/pdf")
    analysis = result["analysis"]
    assert analysis["pages"] == 2
    assert "hello" in analysis["text_pages"][0]["text"]
    assert "goodbye" in analysis["text_pages"][1]["text"]
    assert analysis["words"] == 8
    assert analysis["metadata"]["title"] == "Sample report"


def test_text_gives_the_text_and_its_counts(tmp_path: Path) -> None:
    result = run(samples.make_text(tmp_path / "n.txt", "één twee\ndrie\n"), "text/plain")
    assert result["analysis"]["words"] == 3 and result["analysis"]["lines"] == 2
    assert result["analysis"]["text"] == "één twee\ndrie\n"


def test_the_metadata_profile_leaves_text_out(tmp_path: Path) -> None:
    pdf = samples.make_pdf(tmp_path / "r.pdf", ["secret words"])
    assert "text_pages" not in run(pdf, profile="metadata")["analysis"]


@pytest.mark.parametrize(
    ("make", "status", "words"),
    [
        (lambda p: samples.make_encrypted_pdf(p / "e.pdf"), 400, "encrypted"),
        (lambda p: samples.make_bomb_png(p / "bomb.png"), 413, "decompression bomb"),
        (lambda p: _write(p / "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50), 400, "corrupt"),
        (lambda p: _write(p / "broken.pdf", b"%PDF-1.4\n garbage"), 400, "PDF"),
        (lambda p: _write(p / "blob.bin", b"\x00\x01\x02" * 100), 415, "cannot analyse"),
    ],
)
def test_bad_inputs_are_permanent_errors_with_a_clear_message(
    tmp_path: Path,
    make,
    status: int,
    words: str,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(AnalysisError) as error:
        run(make(tmp_path))
    assert error.value.status == status
    assert words in error.value.message


def test_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="unknown profile 'ocr-everything'") as error:
        run(samples.make_text(tmp_path / "t.txt", "x"), profile="ocr-everything")
    assert error.value.status == 422


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
