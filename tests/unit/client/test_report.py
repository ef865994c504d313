"""The readable page of a result: escaped, bounded, and whole whatever the shape."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from client import markup, report, sections
from tests import samples

HOSTILE = '<script>alert("x")</script><img src="http://evil.example/x.png">'


def hostile_result() -> dict[str, Any]:
    """Every string a page shows, written by a container that wants to run script."""
    return {
        "kind": "image",
        "content_type": HOSTILE,
        "sha256": HOSTILE,
        "profile": HOSTILE,
        "notes": [HOSTILE],
        "processor": {"name": HOSTILE, "version": HOSTILE},
        HOSTILE: HOSTILE,
        "analysis": {
            "width": 100,
            "height": 50,
            "format": HOSTILE,
            "summary": {"text": HOSTILE},
            "llm": {"answer": HOSTILE, "model": HOSTILE},
            "exif": {"make": HOSTILE, "model": HOSTILE, "taken": HOSTILE, HOSTILE: HOSTILE},
            "dominant_colours": [{"hex": '#fff" onload="alert(1)', "fraction": 0.5}],
            "ocr": {
                "available": True,
                "engine": HOSTILE,
                "lines": [{"text": HOSTILE, "confidence": 0.9, "box": [[0, 0], [9, 0], [9, 9]]}],
            },
            "metadata": {HOSTILE: HOSTILE},
            "headings": [{"level": 1, "text": HOSTILE}],
            "table": {"columns": [{"name": HOSTILE}], "sample_rows": [[HOSTILE]]},
            "text": HOSTILE,
            HOSTILE: {"deeper": [HOSTILE, {"k": HOSTILE}]},
        },
    }


def no_markup_from(page: str) -> None:
    assert "<script" not in page and "<img" not in page
    assert "onload=" not in page.replace("onload=&quot;", "")
    # Every URL the page refers to is inline: nothing is fetched when it is opened.
    for link in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page):
        assert link.startswith("data:"), link


def test_hostile_strings_are_shown_as_text_never_as_markup() -> None:
    picture = report.Picture(b"\x89PNG\r\n\x1a\nnot really", "image/png")
    for standalone in (True, False):
        page = report.render(hostile_result(), name=HOSTILE, picture=picture, standalone=standalone)
        no_markup_from(page)
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    standalone_page = report.render(hostile_result(), name="x", picture=picture)
    assert report.CSP in standalone_page and "data:image/png;base64," in standalone_page
    # The colour that tried to break out of its attribute gets no swatch at all.
    assert "background-color: #fff" not in standalone_page


def test_missing_fields_and_odd_types_render_what_is_there() -> None:
    shapes: list[Any] = [
        None,
        {},
        [],
        "a string",
        [1, {"a": 2}],
        {"kind": "image"},
        {"kind": "image", "analysis": {"width": "wide", "ocr": {"lines": "many"}}},
        {"kind": "image", "analysis": {"width": 10, "height": 10, "ocr": {"lines": [None, 5]}}},
        {"kind": "pdf", "analysis": {"text_pages": [None, "page", {"page": "x", "text": 5}]}},
        {"kind": "pdf", "analysis": {"pages": [1, 2], "ocr": {"pages": "all"}}},
        {"kind": "text", "analysis": {"table": {"columns": "x", "sample_rows": [1, [None]]}}},
        {"kind": "text", "analysis": {"summary": ["a"], "top_words": [{"word": None}]}},
        {"kind": 7, "analysis": 3, "size": "big", "duration_ms": "slow"},
        {"kind": "video", "analysis": {"frames": 300, "codec": "av1", "tracks": [{"lang": "nl"}]}},
    ]
    for shape in shapes:
        page = report.render(shape, name="odd.bin")
        assert "<h1>odd.bin</h1>" in page, shape
    unknown = report.render(shapes[-1], name="clip.mp4")
    assert "av1" in unknown and "nl" in unknown and "Other details" in unknown
    assert "not valid JSON" in report.render(None, name="x")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)
result_like = st.fixed_dictionaries(
    {"kind": st.sampled_from(["image", "pdf", "text", "other"]), "analysis": json_values},
    optional={
        "notes": json_values,
        "content_type": json_values,
        "size": json_values,
        "processor": json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(result=result_like | json_values)
def test_any_json_renders_without_an_error_and_without_raw_markup(result: Any) -> None:
    page = report.render(result, name="<b>f</b>")
    no_markup_from(page)
    assert "<b>f</b>" not in page and "could not be shown" not in page


def test_huge_text_is_cut_with_a_note_and_the_raw_result_keeps_it() -> None:
    text = "word " * 300_000  # 1.5 million characters
    page = report.render({"kind": "text", "analysis": {"text": text}}, name="big.txt")
    assert len(page) < report.MAX_TEXT_CHARS + 20_000
    assert f"{len(text) - report.MAX_TEXT_CHARS:,} more characters" in page
    pages = [{"page": n, "source": "text-layer", "text": "x" * 50_000} for n in range(1, 301)]
    page = report.render({"kind": "pdf", "analysis": {"text_pages": pages}}, name="big.pdf")
    assert len(page) < report.MAX_TEXT_CHARS * 2
    assert "Page 5" in page and "Later pages" in page and "100 more pages" in page
    many = {"kind": "x", "analysis": {f"field {n}": n for n in range(1000)}}
    assert "800 more fields" in report.render(many, name="many")


def test_the_key_facts_come_first_in_a_readers_order() -> None:
    result = {
        "kind": "image",
        "content_type": "image/jpeg",
        "size": 2048,
        "analysis": {
            "width": 80,
            "height": 60,
            "exif": {"make": "Acme", "model": "Cam", "gps": {"latitude": -1.5, "longitude": 2}},
        },
        "processor": {"name": "fpw-reference", "version": "0.1.0"},
        "duration_ms": 1234,
    }
    assert sections.facts(result)[:4] == [
        ("Kind", "image"),
        ("Type", "image/jpeg"),
        ("Size", "2.0 KB"),
        ("Dimensions", "80 × 60 pixels"),
    ]
    found = dict(sections.facts(result))
    assert found["Camera"] == "Acme Cam"
    assert found["Location"] == "1.50000° S, 2.00000° E"
    assert found["Processed by"] == "fpw-reference 0.1.0 in 1.2 s"


def test_the_picture_is_found_only_when_it_is_the_file_analysed(tmp_path: Path) -> None:
    png = samples.make_png(tmp_path / "a.png")
    data = png.read_bytes()
    result = {"kind": "image", "sha256": hashlib.sha256(data).hexdigest()}
    other = samples.make_png(tmp_path / "b.png", text="changed since")
    assert report.find_picture(result, [None, tmp_path / "gone.png", other]) is None
    found = report.find_picture(result, [None, other, png])
    assert found == report.Picture(data, "image/png")
    assert report.find_picture({"kind": "pdf"}, [png]) is None


def test_a_report_is_written_beside_its_result(tmp_path: Path) -> None:
    result = tmp_path / "notes.txt.result.json"
    result.write_text(json.dumps({"kind": "text", "analysis": {"text": "hello there"}}))
    written = report.write_report(result)
    assert written == tmp_path / "notes.txt.result.html"
    page = written.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<h1>notes.txt</h1>" in page
    assert "hello there" in page and "@media print" in page
    assert not list(tmp_path.glob("*.part"))
    broken = tmp_path / "x.result.json"
    broken.write_bytes(b"\xff not json")
    assert report.write_report(broken) is None and not (tmp_path / "x.result.html").exists()


def test_nan_infinity_and_huge_numbers_are_not_facts() -> None:
    result = json.loads(
        '{"kind": "image", "size": Infinity, "analysis": {"width": NaN, "height": -Infinity,'
        ' "words": 1e400, "pages": 123456789012345678901234567890123456789e300,'
        ' "ocr": {"lines": [{"text": "a", "confidence": NaN, "box": [[0, 0], [NaN, 1], [2, 2]]}]}}}'
    )
    page = report.render(result, name="odd.png")
    assert "nan" not in page.lower() and "inf" not in page.lower()
    assert "Dimensions" not in page and ">a<" in page


def test_a_result_both_wide_and_deep_stays_small() -> None:
    wide: Any = "leaf"
    for _ in range(markup.MAX_DEPTH):
        wide = {f"k{n}": wide for n in range(50)}  # 50**6 leaves if shown in full
    page = report.render({"kind": "x", "analysis": {"tree": wide}}, name="tree")
    assert len(page) < 2_000_000


def test_a_tiff_original_is_inlined_as_png(tmp_path: Path) -> None:
    from PIL import Image

    tiff = tmp_path / "scan.tif"
    Image.new("RGB", (30, 20), (200, 10, 10)).save(tiff, "TIFF")
    result = {"kind": "image", "sha256": hashlib.sha256(tiff.read_bytes()).hexdigest()}
    found = report.find_picture(result, [tiff])
    assert found is not None and found.mime == "image/png"
    assert found.data.startswith(b"\x89PNG")


def test_document_properties_are_named_in_words_and_pdf_dates_read_as_dates() -> None:
    result = {
        "kind": "pdf",
        "analysis": {
            "metadata": {"creationdate": "D:20261201225221Z", "moddate": "D:2026", "custom": "x"}
        },
    }
    page = report.render(result, name="r.pdf")
    assert "<th>Created</th><td>2026-12-01 22:52:21 UTC</td>" in page
    assert "<th>Changed</th><td>2026</td>" in page and "<th>custom</th><td>x</td>" in page
    assert sections.readable_date("D:20260102030405+01'00'") == "2026-01-02 03:04:05 +0100"
    assert sections.readable_date("yesterday") == "yesterday"
