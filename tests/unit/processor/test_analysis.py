"""The reference analyses on sample files made by the tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from processor.analysis import analyze
from processor.errors import AnalysisError
from tests import samples
from tests.unit.processor import ocr_device


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
    make: Callable[[Path], Path],
    status: int,
    words: str,
) -> None:
    with pytest.raises(AnalysisError) as error:
        run(make(tmp_path))
    assert error.value.status == status
    assert words in error.value.message


def test_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="unknown profile 'ocr-everything'") as error:
        run(samples.make_text(tmp_path / "t.txt", "x"), profile="ocr-everything")
    assert error.value.status == 422


def test_text_in_an_image_comes_back_by_ocr_with_the_device_and_time(tmp_path: Path) -> None:
    image = samples.make_text_image(tmp_path / "sign.png", ["Invoice 2041", "Total due 318 EUR"])
    ocr = run(image)["analysis"]["ocr"]
    assert ocr["available"] is True
    assert ocr["text"].splitlines() == ["Invoice 2041", "Total due 318 EUR"]
    assert (ocr["device"], ocr["provider"]) == ocr_device()
    assert ocr["duration_ms"] >= 0 and ocr["lines"][0]["confidence"] > 0.8
    assert len(ocr["lines"][0]["box"]) == 4


def test_an_image_gives_its_dominant_colours(tmp_path: Path) -> None:
    colours = run(samples.make_png(tmp_path / "a.png", size=(120, 80)))["analysis"][
        "dominant_colours"
    ]
    assert colours[0]["hex"] == "#f0f0f0"  # the background
    assert any(c["hex"] == "#c81e1e" for c in colours)  # the red square
    assert sum(c["fraction"] for c in colours) == pytest.approx(1, abs=0.01)


def test_without_the_ocr_engine_the_result_says_so_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processor import ocr

    monkeypatch.setattr(ocr, "_engine", None)
    monkeypatch.setattr(ocr, "_engine_error", None)
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # import fails as if not installed
    result = run(samples.make_text_image(tmp_path / "t.png", ["hello"]))
    assert result["analysis"]["ocr"]["available"] is False
    assert "not installed" in result["analysis"]["ocr"]["reason"]
    assert result["analysis"]["width"] == 720


def test_ocr_can_be_turned_off_by_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processor import ocr

    monkeypatch.setattr(ocr, "_engine", None)
    monkeypatch.setattr(ocr, "_engine_error", None)
    monkeypatch.setenv("FPW_PROCESSOR_OCR_DEVICE", "off")
    result = run(samples.make_text_image(tmp_path / "t.png", ["hello"]))
    assert result["analysis"]["ocr"] == {
        "available": False,
        "reason": "OCR is turned off (FPW_PROCESSOR_OCR_DEVICE=off)",
    }


def test_the_metadata_profile_does_no_ocr(tmp_path: Path) -> None:
    image = samples.make_text_image(tmp_path / "t.png", ["hello"])
    analysis = run(image, profile="metadata")["analysis"]
    assert "ocr" not in analysis and analysis["perceptual_hash"]


def test_the_summary_profile_gives_the_summary_without_the_text(tmp_path: Path) -> None:
    text = "Cats sleep most of the day. Cats hunt at night. Dogs bark at cats loudly.\n"
    analysis = run(samples.make_text(tmp_path / "t.txt", text), "text/plain", profile="summary")[
        "analysis"
    ]
    assert "text" not in analysis
    assert analysis["summary"]["sentences"]
    assert analysis["words"] == 15


def test_the_llm_profile_without_an_endpoint_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="has none configured") as error:
        run(samples.make_text(tmp_path / "t.txt", "x"), profile="llm")
    assert error.value.status == 422


@pytest.mark.parametrize(
    "params",
    [{"profile": 3}, {"split": "1-2"}, {"split": ["a-b"]}, {"prompt": ""}, {"prompt": 7}],
)
def test_unusable_params_are_refused_before_any_work(tmp_path: Path, params: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(AnalysisError) as error:
        run(samples.make_text(tmp_path / "t.txt", "x"), **params)
    assert error.value.status == 422


def test_a_split_asked_of_a_file_that_is_not_a_pdf_is_noted_not_refused(tmp_path: Path) -> None:
    result = run(samples.make_text(tmp_path / "t.txt", "x"), "text/plain", split=["1"])
    assert result["notes"] == ["split applies to PDFs only; this file was not split"]
    assert "notes" not in run(tmp_path / "t.txt", "text/plain", split=None)


def test_a_zip_that_is_not_a_word_document_is_unsupported(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(AnalysisError, match="cannot analyse") as error:
        run(tmp_path / "a.zip", "application/zip")
    assert error.value.status == 415


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("side", [9_000, 12_000])
def test_an_image_over_the_pixel_limit_gets_one_message_with_the_documented_limit(
    tmp_path: Path, side: int
) -> None:
    """Pillow warns past the limit and refuses past twice it: both read the same to a user."""
    with pytest.raises(AnalysisError) as error:
        run(samples.make_bomb_png(tmp_path / "big.png", side=side))
    assert error.value.status == 413
    assert error.value.message == (
        f"the image is {side * side:,} pixels; images of at most 64,000,000 pixels"
        " (about 8000 x 8000) are analysed, larger ones are refused as a possible"
        " decompression bomb"
    )
