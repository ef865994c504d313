"""PDFs: text layers, OCR of scanned pages, summaries and splitting into parts."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from processor.analysis import analyze
from processor.errors import AnalysisError
from processor.pdfs import parse_ranges
from tests import samples
from tests.unit.processor import ocr_device


def run(path: Path, **params: object) -> dict:  # type: ignore[type-arg]
    return analyze(path, "application/pdf", dict(params), "file-test")["analysis"]  # type: ignore[no-any-return]


def test_a_scanned_page_without_a_text_layer_is_read_by_ocr(tmp_path: Path) -> None:
    pdf = samples.make_scanned_pdf(tmp_path / "scan.pdf", [["Quarterly report", "Revenue 4200"]])
    analysis = run(pdf)
    (page,) = analysis["text_pages"]
    assert page["source"] == "ocr"
    assert page["text"].splitlines() == ["Quarterly report", "Revenue 4200"]
    assert page["ocr"]["device"] == ocr_device()[0] and page["ocr"]["duration_ms"] >= 0
    assert analysis["ocr"]["pages"] == [1] and analysis["ocr"]["available"] is True
    assert analysis["words"] == 4


def test_pages_with_a_text_layer_are_not_sent_to_ocr(tmp_path: Path) -> None:
    analysis = run(samples.make_pdf(tmp_path / "t.pdf", ["hello there"]))
    assert analysis["text_pages"][0]["source"] == "text-layer"
    assert "ocr" not in analysis["text_pages"][0]
    assert analysis["ocr"] == {"pages": []}


def test_a_pdf_gets_an_extractive_summary_of_its_own_sentences(tmp_path: Path) -> None:
    pages = [
        "The river flooded the valley in spring. Farmers moved their cattle uphill.",
        "The flooded river destroyed two bridges. Engineers rebuilt the river bridges by May.",
        "Lunch was served at noon.",
    ]
    summary = run(samples.make_pdf(tmp_path / "r.pdf", pages))["summary"]
    assert summary["method"] == "extractive"
    assert 1 <= len(summary["sentences"]) <= 3
    assert all("river" in s.lower() or "flood" in s.lower() for s in summary["sentences"][:2])
    whole = " ".join(pages)
    assert all(s in whole for s in summary["sentences"])


def test_a_pdf_is_split_into_the_requested_parts(tmp_path: Path) -> None:
    from pypdf import PdfReader

    pdf = samples.make_pdf(tmp_path / "r.pdf", ["one", "two", "three", "four"])
    parts = run(pdf, split=["1-2", "3-", "4"])["parts"]
    assert [p["pages"] for p in parts] == [[1, 2], [3, 4], [4]]
    for part in parts:
        data = base64.b64decode(part["pdf_base64"])
        assert len(data) == part["size"] and part["content_type"] == "application/pdf"
        reader = PdfReader(io.BytesIO(data))
        texts = [page.extract_text().strip() for page in reader.pages]
        assert texts == [["one", "two", "three", "four"][n - 1] for n in part["pages"]]


def test_a_split_past_the_last_page_is_a_permanent_error(tmp_path: Path) -> None:
    pdf = samples.make_pdf(tmp_path / "r.pdf", ["one", "two"])
    with pytest.raises(AnalysisError, match="outside the document's 2 pages") as error:
        run(pdf, split=["1", "2-3"])
    assert error.value.status == 422


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (["1-2", "3-"], [(1, 2), (3, None)]),
        (["5"], [(5, 5)]),
        (["-3"], [(1, 3)]),
        ([" 2 - 4 "], [(2, 4)]),
    ],
)
def test_page_ranges_are_parsed(spec: list[str], expected: list[tuple[int, int | None]]) -> None:
    assert parse_ranges(spec) == expected


@pytest.mark.parametrize("spec", [[], "1-2", ["0-1"], ["3-1"], ["x"], ["-"], [1], ["1"] * 51])
def test_unusable_page_ranges_are_refused(spec: object) -> None:
    with pytest.raises(AnalysisError) as error:
        parse_ranges(spec)
    assert error.value.status == 422


def test_the_ocr_profile_reads_every_page_even_with_a_text_layer(tmp_path: Path) -> None:
    analysis = run(samples.make_pdf(tmp_path / "t.pdf", ["Hello World"]), profile="ocr")
    (page,) = analysis["text_pages"]
    assert page["source"] == "text-layer"
    assert "Hello" in page["ocr_text"] and page["ocr"]["available"] is True
