"""Text and office documents: Word, CSV, Markdown and plain text."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from processor import documents
from processor.analysis import analyze
from processor.errors import AnalysisError
from tests import samples

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def run(path: Path, ctype: str, **params: object) -> dict:  # type: ignore[type-arg]
    return analyze(path, ctype, dict(params), "file-test")


def test_a_word_document_gives_text_headings_properties_and_a_summary(tmp_path: Path) -> None:
    doc = samples.make_docx(
        tmp_path / "memo.docx",
        [
            "The budget for the new lab was approved on Monday.",
            "The lab budget covers two microscopes and a freezer.",
            "Parking is free on weekends.",
        ],
        heading="Lab budget",
        title="Budget memo",
    )
    result = run(doc, "application/octet-stream")  # recognised by content, not by name
    analysis = result["analysis"]
    assert result["kind"] == "text" and result["content_type"] == DOCX
    assert analysis["format"] == "docx"
    assert analysis["headings"] == [{"level": 1, "text": "Lab budget"}]
    assert analysis["metadata"]["title"] == "Budget memo"
    assert analysis["metadata"]["creator"] == "fpw tests"
    assert analysis["paragraphs"] == 4
    assert "two microscopes" in analysis["text"]
    assert any("budget" in s for s in analysis["summary"]["sentences"])


def test_a_csv_gives_columns_rows_and_which_columns_are_numeric(tmp_path: Path) -> None:
    rows: list[list[object]] = [["alice", 31, "Paris"], ["bob", 27, ""], ["carol", 45, "Oslo"]]
    path = samples.make_csv(tmp_path / "people.csv", ["name", "age", "city"], rows)
    analysis = run(path, "text/csv")["analysis"]
    table = analysis["table"]
    assert analysis["format"] == "csv"
    assert table["rows"] == 3 and table["column_count"] == 3 and table["delimiter"] == ","
    assert [(c["name"], c["numeric"], c["filled"]) for c in table["columns"]] == [
        ("name", False, 3),
        ("age", True, 3),
        ("city", False, 2),
    ]
    assert table["sample_rows"][0] == ["alice", "31", "Paris"]


def test_a_markdown_file_gives_its_headings_and_a_summary_without_markup(tmp_path: Path) -> None:
    text = (
        "# Field notes\n\nThe **heron** waited at the pond for fish.\n\n"
        "## Day two\n\nThe heron caught three fish at the [pond](http://x).\n"
    )
    analysis = run(samples.make_text(tmp_path / "n.md", text), "text/markdown")["analysis"]
    assert analysis["format"] == "markdown"
    assert analysis["headings"] == [
        {"level": 1, "text": "Field notes"},
        {"level": 2, "text": "Day two"},
    ]
    assert all("**" not in s and "](" not in s for s in analysis["summary"]["sentences"])
    assert analysis["text"] == text


def test_a_markdown_summary_skips_code_tables_and_headings_and_keeps_words_whole(
    tmp_path: Path,
) -> None:
    """A README-like file: left in, table rows and link lines crowd out its sentences."""
    text = (
        "# Heron survey\n\n"
        "The survey counts herons at every pond in the valley twice a year.\n\n"
        "```sh\nsurvey --count herons --ponds all --output herons.csv\n```\n\n"
        "| pond | herons | herons seen last year |\n| --- | --- | --- |\n"
        "| north pond by the survey hut | 4 | 3 herons seen at the survey |\n\n"
        "- [survey.md](survey.md): the survey\n- [herons.md](herons.md): herons\n\n"
        "Volunteers walk the ponds at dawn, when the herons are feeding.\n\n"
        "Each pond's heron count goes into the survey's shared sheet, set by `max_ponds`.\n"
    )
    summary = run(samples.make_text(tmp_path / "survey.md", text), "text/markdown")["analysis"][
        "summary"
    ]
    assert summary["sentences"] == [
        "The survey counts herons at every pond in the valley twice a year.",
        "Volunteers walk the ponds at dawn, when the herons are feeding.",
        "Each pond's heron count goes into the survey's shared sheet, set by max_ponds.",
    ]


def test_markdown_prose_drops_what_is_not_running_text() -> None:
    prose = documents.markdown_prose(
        "# Title\n> a _quoted_ **line** with poll_seconds and [a link](http://x)\n"
        "~~~\ncode\n~~~\n<div>html</div>\n1. first item\n2. second item\n"
    )
    assert "Title" not in prose and "code" not in prose and "<div>" not in prose
    assert "a quoted line with poll_seconds and a link" in prose
    assert "\n\nfirst item" in prose and "\n\nsecond item" in prose


def test_plain_text_gives_stats_and_a_summary(tmp_path: Path) -> None:
    text = "Bees make honey in summer. Honey bees need flowers. The bus was late.\n"
    analysis = run(samples.make_text(tmp_path / "t.txt", text), "text/plain")["analysis"]
    assert analysis["format"] == "plain" and analysis["words"] == 13
    assert analysis["top_words"][0] == {"word": "bees", "count": 2}
    assert analysis["summary"]["sentences"]


def _docx_with(path: Path, document: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", document)
    return path


def test_a_word_document_with_xml_entities_is_refused(tmp_path: Path) -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><w:document>&b;</w:document>'
    )
    with pytest.raises(AnalysisError, match="XML entities") as error:
        run(_docx_with(tmp_path / "x.docx", hostile), DOCX)
    assert error.value.status == 400


def test_a_word_document_that_unpacks_too_large_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "MAX_DOCX_XML_BYTES", 10_000)
    doc = _docx_with(tmp_path / "bomb.docx", b"<w:document>" + b" " * 20_000 + b"</w:document>")
    with pytest.raises(AnalysisError, match="zip bomb") as error:
        run(doc, DOCX)
    assert error.value.status == 413


def test_a_corrupt_word_document_is_a_permanent_error(tmp_path: Path) -> None:
    good = samples.docx_bytes(["hello"])
    broken = tmp_path / "broken.docx"
    broken.write_bytes(good[: len(good) // 2])
    with pytest.raises(AnalysisError) as error:
        run(broken, DOCX)
    assert error.value.status == 400
    assert "Word document" in error.value.message


def test_a_word_document_with_malformed_xml_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="corrupt or unreadable") as error:
        run(_docx_with(tmp_path / "bad.docx", b"<w:document><unclosed>"), DOCX)
    assert error.value.status == 400


README = """---
title: Heron Tracker
layout: page
---
<!-- badges: keep them in one line
[![Docs](https://docs.example.org/badge.svg)](https://docs.example.org)
-->
[![Build](https://ci.example.org/heron/badge.svg)](https://ci.example.org/heron) \
[![PyPI version of the heron tracker](https://img.shields.io/pypi/v/heron.svg)][pypi]

Heron Tracker
=============

Heron Tracker counts the herons at every pond in the valley and writes the counts to a sheet.
See the [guide][guide] for the routes.

## Install

    pip install heron-tracker --upgrade --user for the heron counts

```sh
heron count --ponds all --output herons.csv --verbose --heron-counts
```

| option | what the heron tracker does with the option |
|--------|---------|
| `--ponds` | which ponds the heron counter visits on the heron survey today |

option | what the heron tracker does with it
--- | ---
ponds | which ponds the heron counter visits on the heron survey today

Volunteers walk the ponds at dawn, when the herons are feeding and easy to count.

The counts from every pond go into one sheet that the heron survey team reviews weekly.

[guide]: https://heron.example.org/guide "The guide to the heron survey routes and ponds"
[pypi]: https://pypi.org/project/heron-tracker/heron/counts/at/every/pond/in/the/valley
[ci]: <https://ci.example.org/heron/herons/counted/at/every/pond/in/the/valley/twice>
"""


def test_a_readme_summary_comes_from_its_prose_not_its_links_badges_or_tables(
    tmp_path: Path,
) -> None:
    """Link-reference definitions, badges, comments, front matter, tables and code are not prose."""
    analysis = run(samples.make_text(tmp_path / "README.md", README), "text/markdown")["analysis"]
    assert analysis["summary"]["sentences"] == [
        "Heron Tracker counts the herons at every pond in the valley and writes the counts"
        " to a sheet.",
        "Volunteers walk the ponds at dawn, when the herons are feeding and easy to count.",
        "The counts from every pond go into one sheet that the heron survey team reviews weekly.",
    ]
    prose = documents.markdown_prose(README)
    for absent in ("https", "layout", "badge", "pip install", "--ponds", "option", "Install"):
        assert absent not in prose
    assert "See the guide for the routes." in prose
    assert {"level": 2, "text": "Install"} in analysis["headings"]
    assert analysis["text"] == README


def _word(path: Path, body: str) -> Path:
    """A Word document whose body is the given WordprocessingML (headings, lists, tables)."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    document = f'<w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>'
    return _docx_with(path, document.encode())


def _p(text: str, style: str = "", numbered: bool = False) -> str:
    props = f'<w:pStyle w:val="{style}"/>' if style else ""
    if numbered:
        props += '<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>'
    return f"<w:p><w:pPr>{props}</w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>"


def test_a_word_heading_is_not_glued_to_the_sentence_after_it(tmp_path: Path) -> None:
    cell = "<w:tc>{}</w:tc>"
    table = (
        "<w:tbl>"
        + "".join(
            "<w:tr>" + cell.format(_p(a)) + cell.format(_p(b)) + "</w:tr>"
            for a, b in (
                ("Pond name of the lab survey site", "Number of herons counted at the lab pond"),
                ("North pond near the lab", "Four herons were counted near the lab"),
            )
        )
        + "</w:tbl>"
    )
    body = (
        _p("Lab budget report", "Title")
        + _p("Summary of the lab budget", "Heading1")
        + _p("The budget for the new lab was approved by the board on Monday morning.")
        + _p("Equipment for the lab", "Heading2")
        + _p("Two microscopes for the lab budget", numbered=True)
        + _p("A freezer for the lab samples", numbered=True)
        + table
        + _p("The lab budget also covers a technician for the first two years of work.")
        + _p("Spending on the lab budget is reviewed by the finance office every quarter.")
    )
    analysis = run(_word(tmp_path / "budget.docx", body), DOCX)["analysis"]
    lines = analysis["text"].splitlines()
    assert "Summary of the lab budget" in lines and "Equipment for the lab" in lines
    assert [h["text"] for h in analysis["headings"]] == [
        "Lab budget report",
        "Summary of the lab budget",
        "Equipment for the lab",
    ]
    assert analysis["summary"]["sentences"] == [
        "The budget for the new lab was approved by the board on Monday morning.",
        "The lab budget also covers a technician for the first two years of work.",
        "Spending on the lab budget is reviewed by the finance office every quarter.",
    ]
