"""The reference processor over HTTP on documents shaped like the ones people
send: a project README (badges, reference links, tables, HTML, code) and a
Word file as Word writes it (styles, numbering, runs split mid-word,
bookmarks, a table with a merged cell, a header). The summary must come from
the prose and a heading must stay its own line."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from processor.server import ProcessorServer

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def server() -> Iterator[ProcessorServer]:
    running = ProcessorServer("127.0.0.1", 0, max_bytes=2_000_000, time_limit=30).start()
    yield running
    running.shutdown()


def analyse(server: ProcessorServer, body: bytes, ctype: str) -> dict[str, Any]:
    answer = requests.post(
        f"http://127.0.0.1:{server.port}/analyze",
        data=body,
        headers={
            "Content-Type": ctype,
            "X-Fpw-Job": "file-00000000-0000-4000-8000-000000000019",
            "X-Fpw-Params": json.dumps({}),
        },
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


README = """<h1 align="center">
  <img src="docs/logo.svg" alt="Pondwatch logo" width="120"><br>Pondwatch
</h1>

[![CI](https://github.com/example/pondwatch/actions/workflows/ci.yml/badge.svg?branch=main)](https://github.com/example/pondwatch/actions)
[![Coverage Status](https://coveralls.io/repos/github/example/pondwatch/badge.svg)][coverage]
[![License: MIT](https://img.shields.io/badge/License-MIT-yellow.svg)](LICENSE)

> **Note**
> Pondwatch 2 changes the sheet format; see [the migration notes][migrate].

Pondwatch records the birds seen at each pond of a nature reserve and turns the counts into a \
weekly report for the wardens.
It runs on a laptop in the field and needs no network until the report is sent.

## Table of contents

- [Installation](#installation)
- [Usage](#usage)
  - [Options](#options)

## Installation

```bash
pip install pondwatch
pondwatch init --reserve "North Marsh"
```

## Usage

| Command | What it does |
| ------- | ------------ |
| `pondwatch count` | record a count at the pond you stand at |
| `pondwatch report` | write the weekly report for the wardens |

Wardens read the weekly report on Monday mornings before the reserve opens.

<details><summary>Options</summary>

* `--pond NAME` - the pond (default: the nearest)
* `--species LIST` - only these species

</details>

[coverage]: https://coveralls.io/github/example/pondwatch?branch=main
[migrate]: https://pondwatch.example.org/docs/migrating-from-version-one-to-version-two
[issues]: <https://github.com/example/pondwatch/issues> "Report a problem with Pondwatch"
"""


def test_a_project_readme_is_summarised_from_its_prose(server: ProcessorServer) -> None:
    result = analyse(server, README.encode(), "text/markdown")
    analysis = result["analysis"]
    summary = " ".join(analysis["summary"]["sentences"])
    assert "Pondwatch records the birds seen at each pond" in summary
    assert "Wardens read the weekly report on Monday mornings" in summary
    for absent in ("http", "badge", "svg", "pip install", "|", "<", "--pond", "[", "Coverage"):
        assert absent not in summary, absent
    headings = [h["text"] for h in analysis["headings"]]
    assert headings[:3] == ["Table of contents", "Installation", "Usage"]
    assert analysis["text"] == README  # the text itself is given back whole


W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _run(text: str, bold: bool = False) -> str:
    props = "<w:rPr><w:b/></w:rPr>" if bold else ""
    return f'<w:r>{props}<w:t xml:space="preserve">{text}</w:t></w:r>'


def _para(*runs: str, style: str = "", numbered: int | None = None) -> str:
    props = f'<w:pStyle w:val="{style}"/>' if style else ""
    if numbered is not None:
        props += f'<w:numPr><w:ilvl w:val="0"/><w:numId w:val="{numbered}"/></w:numPr>'
    return f'<w:p w:rsidR="00A1"><w:pPr>{props}</w:pPr>{"".join(runs)}</w:p>'


def _cell(text: str, merge: str = "") -> str:
    span = f'<w:gridSpan w:val="{merge}"/>' if merge else ""
    return (
        f'<w:tc><w:tcPr><w:tcW w:w="2000" w:type="dxa"/>{span}</w:tcPr>{_para(_run(text))}</w:tc>'
    )


def word_file() -> bytes:
    """A .docx with the parts Word writes: styles, numbering, settings, a header."""
    table = (
        '<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/></w:tblPr>'
        + "<w:tr>"
        + _cell("Pond")
        + _cell("Herons")
        + _cell("Egrets")
        + "</w:tr>"
        + "<w:tr>"
        + _cell("North Marsh")
        + _cell("4")
        + _cell("2")
        + "</w:tr>"
        + "<w:tr>"
        + _cell("Total for the reserve", merge="2")
        + _cell("6")
        + "</w:tr>"
        + "</w:tbl>"
    )
    body = (
        _para(_run("Survey of the "), _run("reserve", bold=True), style="Title")
        + _para(_run("Intro"), _run("duction"), style="Heading1")
        + _para(
            '<w:bookmarkStart w:id="0" w:name="_Toc1"/>',
            _run("The wardens counted the birds at every pond during the first week of May."),
            '<w:bookmarkEnd w:id="0"/>',
        )
        + _para(_run("Counts by pond"), style="Heading2")
        + _para(_run("Herons were seen at four ponds"), numbered=1)
        + _para(_run("Egrets returned to the North Marsh"), numbered=1)
        + table
        + _para(_run("Next steps"), style="Heading1")
        + _para(
            _run("The counts will be repeated in June, "),
            _run("when the young birds have left the nests."),
        )
        + '<w:sectPr><w:headerReference w:type="default" r:id="rId9" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"/></w:sectPr>'
    )
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{W}" xmlns:w14="http://schemas.microsoft.com/office/word/2010/'
        f'wordml"><w:body>{body}</w:body></w:document>'
    )
    styles = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:styles xmlns:w="{W}">'
        + "".join(
            f'<w:style w:type="paragraph" w:styleId="{sid}"><w:name w:val="{name}"/></w:style>'
            for sid, name in (
                ("Title", "Title"),
                ("Heading1", "heading 1"),
                ("Heading2", "heading 2"),
            )
        )
        + "</w:styles>"
    )
    numbering = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:numbering xmlns:w="{W}">'
        '<w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/>'
        '<w:lvlText w:val="•"/></w:lvl></w:abstractNum>'
        '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num></w:numbering>'
    )
    header = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:hdr xmlns:w="{W}">'
        + _para(_run("Reserve survey - internal"))
        + "</w:hdr>"
    )
    core = (
        '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.'
        'openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/'
        'elements/1.1/"><dc:title>Reserve survey</dc:title><dc:creator>A. Warden</dc:creator>'
        "</cp:coreProperties>"
    )
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml"
    types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/>'
        f'<Override PartName="/word/document.xml" ContentType="{main}.document.main+xml"/>'
        f'<Override PartName="/word/styles.xml" ContentType="{main}.styles+xml"/>'
        f'<Override PartName="/word/numbering.xml" ContentType="{main}.numbering+xml"/>'
        f'<Override PartName="/word/header1.xml" ContentType="{main}.header+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
        'package.core-properties+xml"/></Types>'
    )
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="word/document.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>'
    )
    doc_rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/numbering" Target="numbering.xml"/>'
        f'<Relationship Id="rId9" Type="{rel}/header" Target="header1.xml"/></Relationships>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (
            ("[Content_Types].xml", types),
            ("_rels/.rels", rels),
            ("word/_rels/document.xml.rels", doc_rels),
            ("word/document.xml", document),
            ("word/styles.xml", styles),
            ("word/numbering.xml", numbering),
            ("word/header1.xml", header),
            ("docProps/core.xml", core),
        ):
            archive.writestr(name, text)
    return out.getvalue()


def test_a_word_file_keeps_headings_list_items_and_table_cells_apart(
    server: ProcessorServer,
) -> None:
    analysis = analyse(server, word_file(), DOCX)["analysis"]
    lines = analysis["text"].splitlines()
    for own_line in ("Introduction", "Counts by pond", "Next steps"):
        assert own_line in lines, own_line
    assert [h["text"] for h in analysis["headings"]] == [
        "Survey of the reserve",
        "Introduction",
        "Counts by pond",
        "Next steps",
    ]
    assert any(line.strip().endswith("Herons were seen at four ponds") for line in lines)
    assert any(line.strip().endswith("Egrets returned to the North Marsh") for line in lines)
    assert "North Marsh" in analysis["text"] and "Total for the reserve" in analysis["text"]
    sentences = analysis["summary"]["sentences"]
    assert sentences[0] == (
        "The wardens counted the birds at every pond during the first week of May."
    )
    assert (
        "The counts will be repeated in June, when the young birds have left the nests."
        in sentences
    )
    for sentence in sentences:
        for glued in ("Introduction The", "pond Herons", "Next steps The", "Egrets 4"):
            assert glued not in sentence, sentence
