"""Text and office documents: plain text, Markdown, CSV and Word (.docx).

A .docx is a zip of XML parts; reading the two parts we need with the
standard library avoids a dependency, and lets us refuse the hostile shapes
(zip bombs, XML entity expansion) before parsing.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from xml.etree import ElementTree

from processor.errors import TooLarge, Unreadable
from processor.summary import summarize, text_stats

MAX_TEXT_CHARS = 1_000_000
"""Characters of text analysed and returned; the rest is cut (``truncated``)."""
MAX_DOCX_XML_BYTES = 50 * 1024 * 1024
"""Uncompressed size of word/document.xml; Word writes a few MB for a long book."""
MAX_DOCX_PARAGRAPHS = 200_000
"""Paragraphs of a Word document; a long book has tens of thousands."""
MAX_DOCX_ELEMENTS = 5_000_000
"""XML elements of one part of a Word document (each paragraph has a few dozen)."""
_XML_BLOCK = 1 << 16
MAX_CSV_COLUMNS = 200
CSV_SAMPLE_ROWS = 5
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
# Emphasis and code marks, and link syntax (its text kept); an underscore
# inside a word (``poll_seconds``) is part of the word.
MARKDOWN_MARKUP = re.compile(
    r"\*+|`+|(?<!\w)_+(?=\w)|(?<=\w)_+(?!\w)|^\s*[#>]+|!?\[([^\]]*)\]\([^)]*\)", re.M
)
MARKDOWN_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,}).*?(?:^[ ]{0,3}\1[^\n]*$|\Z)", re.M | re.S)
MARKDOWN_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
HTML_TAG = re.compile(r"<[^>\n]+>")
HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
FRONT_MATTER = re.compile(r"\A(?:---|\+\+\+)[ \t]*\n.*?^(?:---|\.\.\.|\+\+\+)[ \t]*$", re.M | re.S)
# ``[name]: https://...`` (optionally with a title): a target for links, never prose.
MARKDOWN_LINK_DEFINITION = re.compile(r"^[ ]{0,3}\[[^\]]+\]:\s*\S+.*$")
# Images, linked images (badges) and reference-style images: pictures, not words.
MARKDOWN_IMAGE = re.compile(
    r"\[!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])\](?:\([^)]*\)|\[[^\]]*\])"
    r"|!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])"
)
MARKDOWN_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
MARKDOWN_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{1,}:?\s*)+\|?\s*$")
SETEXT_UNDERLINE = re.compile(r"=+|-+")
"""The line under a heading written as ``Title`` over ``=====``."""
MARKDOWN_RULE = re.compile(r"^\s{0,3}(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,}|=+)\s*$")


def markdown_prose(text: str) -> str:
    """The running text of a Markdown document, for its summary.

    Code blocks, tables, front matter, raw HTML and comments, link-reference
    definitions and badges are not prose, and headings are reported on their
    own: left in, a table row, a ``[name]: https://...`` line or a heading glued
    to the paragraph below it would read as a sentence and crowd the summary.
    Each list item becomes a paragraph of its own; link and emphasis text is kept.
    """
    text = HTML_COMMENT.sub("\n", FRONT_MATTER.sub("", text.replace("\r\n", "\n")))
    lines = MARKDOWN_FENCE.sub("\n", text).splitlines()
    paragraphs: list[str] = []
    in_table = False
    previous_blank = True
    for index, line in enumerate(lines):
        stripped = line.strip()
        following = lines[index + 1] if index + 1 < len(lines) else ""
        blank = not stripped
        indented_code = previous_blank and line.startswith(("    ", "\t"))
        if blank:
            in_table = False
        elif MARKDOWN_TABLE_RULE.match(following) and "|" in stripped:
            in_table = True  # a table's header row, with or without outer pipes
        if (
            in_table
            or stripped.startswith("|")
            or MARKDOWN_HEADING.match(stripped)
            or MARKDOWN_RULE.match(stripped)
            or MARKDOWN_LINK_DEFINITION.match(line)
            or (indented_code and not MARKDOWN_LIST_ITEM.match(line))
            or (stripped and SETEXT_UNDERLINE.fullmatch(following.strip()) is not None)
        ):
            paragraphs.append("")
            previous_blank = blank or previous_blank
            continue
        previous_blank = blank
        if MARKDOWN_LIST_ITEM.match(line):
            paragraphs.append("")
            stripped = MARKDOWN_LIST_ITEM.sub("", line).strip()
        stripped = MARKDOWN_REFERENCE_LINK.sub(r"\1", MARKDOWN_IMAGE.sub(" ", stripped))
        paragraphs.append(HTML_TAG.sub(" ", stripped))
    prose = "\n".join(paragraphs)
    return MARKDOWN_MARKUP.sub(lambda m: m.group(1) or "", prose)


def text_format(declared: str) -> str:
    """``csv``, ``markdown`` or ``plain`` from the declared media type."""
    base = declared.split(";")[0].strip().lower()
    if base in ("text/csv", "text/comma-separated-values", "application/csv"):
        return "csv"
    if base in ("text/markdown", "text/x-markdown"):
        return "markdown"
    return "plain"


def is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _decode(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _document(text: str, *, keep_text: bool) -> dict[str, Any]:
    info: dict[str, Any] = text_stats(text)
    if keep_text:
        info["text"] = text
    return info


def analyze_text(
    path: Path, declared: str, *, keep_text: bool = True, summary: bool = True
) -> dict[str, Any]:
    """Encoding, counts, summary and the text; columns for CSV, headings for Markdown."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        raw = fh.read(MAX_TEXT_CHARS * 4)
    text, encoding = _decode(raw)
    truncated = len(text) > MAX_TEXT_CHARS or size > len(raw)
    text = text[:MAX_TEXT_CHARS]
    kind = text_format(declared)
    info: dict[str, Any] = {"format": kind, "encoding": encoding, "truncated": truncated}
    prose = text
    if kind == "csv":
        info["table"] = _table(text)
    elif kind == "markdown":
        info["headings"] = [
            {"level": len(m.group(1)), "text": m.group(2)} for m in MARKDOWN_HEADING.finditer(text)
        ][:200]
        prose = markdown_prose(text)
    info.update(_document(text, keep_text=keep_text))
    if summary and kind != "csv":
        info["summary"] = summarize(prose)
    return info


def _table(text: str) -> dict[str, Any]:
    """Columns, row count and a few rows; which columns hold only numbers."""
    sample = text[:65536]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader, [])
        rows = 0
        numeric = [True] * len(header)
        filled = [0] * len(header)
        first: list[list[str]] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows += 1
            if len(first) < CSV_SAMPLE_ROWS:
                first.append(row[:MAX_CSV_COLUMNS])
            for i, cell in enumerate(row[: len(header)]):
                if cell.strip():
                    filled[i] += 1
                    numeric[i] = numeric[i] and _is_number(cell)
    except csv.Error as exc:
        raise Unreadable(f"the CSV file is malformed: {exc}") from exc
    return {
        "delimiter": getattr(dialect, "delimiter", ","),
        "rows": rows,
        "columns": [
            {"name": name, "numeric": numeric[i] and filled[i] > 0, "filled": filled[i]}
            for i, name in enumerate(header[:MAX_CSV_COLUMNS])
        ],
        "column_count": len(header),
        "sample_rows": first,
    }


def _is_number(cell: str) -> bool:
    try:
        float(cell.strip().replace(",", "."))
    except ValueError:
        return False
    return True


def _events(
    archive: zipfile.ZipFile, name: str
) -> Iterator[tuple[str, ElementTree.Element, list[ElementTree.Element]]]:
    """(event, element, open ancestors) of one part, parsed as it is unpacked.

    Nothing but the open elements is kept: a caller removes each element it is
    done with from its parent, so memory follows the document's depth, not its
    length (a few KB of zip can hold millions of empty paragraphs).
    """
    try:
        member = archive.getinfo(name)
    except KeyError:
        return
    if member.file_size > MAX_DOCX_XML_BYTES:
        raise TooLarge(
            f"the document's {name} unpacks to {member.file_size} bytes; at most"
            f" {MAX_DOCX_XML_BYTES} (possible zip bomb)"
        )
    parser: ElementTree.XMLPullParser[Any] = ElementTree.XMLPullParser(events=("start", "end"))
    counter = itertools.count(1)
    stack: list[ElementTree.Element] = []

    def drain() -> Iterator[tuple[str, ElementTree.Element, list[ElementTree.Element]]]:
        for pair in parser.read_events():
            event, element = cast("tuple[str, Any]", pair)
            assert isinstance(element, ElementTree.Element)
            if event == "start":
                if next(counter) > MAX_DOCX_ELEMENTS:
                    raise TooLarge(
                        f"the document's {name} has more than {MAX_DOCX_ELEMENTS} XML elements"
                    )
                stack.append(element)
            else:
                stack.pop()
            yield event, element, stack

    tail = b""
    with archive.open(member) as part:  # zipfile never yields more than the declared size
        while block := part.read(_XML_BLOCK):
            seen = tail + block
            if b"<!DOCTYPE" in seen or b"<!ENTITY" in seen:
                raise Unreadable("the document declares XML entities, which Word never writes")
            tail = block[-16:]
            parser.feed(block)
            yield from drain()
    parser.close()
    yield from drain()


def _paragraph(element: ElementTree.Element) -> str:
    out: list[str] = []
    for node in element.iter():
        if node.tag == f"{W}t" and node.text:
            out.append(node.text)
        elif node.tag == f"{W}tab":
            out.append("\t")
        elif node.tag in (f"{W}br", f"{W}cr"):
            out.append("\n")
    return "".join(out)


def _body(archive: zipfile.ZipFile) -> dict[str, Any] | None:
    """Paragraphs, headings and the table count of word/document.xml, streamed."""
    paragraphs: list[str] = []
    prose: list[str] = []
    chars = 0
    count = tables = 0
    headings: list[dict[str, Any]] = []
    found = False
    for event, element, open_ in _events(archive, "word/document.xml"):
        found = True
        if event == "start":
            if element.tag == f"{W}tbl":
                tables += 1
            continue
        if element.tag != f"{W}p" or any(e.tag == f"{W}p" for e in open_):
            continue  # a paragraph inside a paragraph (text box) is read with its outer one
        count += 1
        if count > MAX_DOCX_PARAGRAPHS:
            raise TooLarge(f"the document has more than {MAX_DOCX_PARAGRAPHS} paragraphs")
        text = _paragraph(element)
        if chars <= MAX_TEXT_CHARS:
            paragraphs.append(text)
            chars += len(text) + 1
        style = element.find(f"{W}pPr/{W}pStyle")
        name = style.get(f"{W}val", "") if style is not None else ""
        heading = name.lower().startswith(("heading", "title"))
        if heading and text.strip() and len(headings) < 200:
            level = int(name[-1]) if name[-1:].isdigit() else 0
            headings.append({"level": level, "text": text.strip()})
        if not heading and chars <= MAX_TEXT_CHARS and not any(e.tag == f"{W}tbl" for e in open_):
            prose.append(text)
        if open_:
            open_[-1].remove(element)  # done with it: only the open elements stay in memory
    if not found:
        return None
    return {
        "paragraphs": paragraphs,
        "prose": prose,
        "count": count,
        "tables": tables,
        "headings": headings,
    }


def _properties(archive: zipfile.ZipFile) -> dict[str, str | None]:
    properties: dict[str, str | None] = {}
    for event, node, open_ in _events(archive, "docProps/core.xml"):
        if event != "end" or len(open_) != 1:
            continue
        local = node.tag.rsplit("}", 1)[-1]
        if local in ("title", "subject", "creator", "lastModifiedBy", "created", "modified"):
            properties[local] = (node.text or "").strip()[:1000] or None
        open_[-1].remove(node)
    return properties


def analyze_docx(path: Path, *, keep_text: bool = True, summary: bool = True) -> dict[str, Any]:
    """Paragraph text, headings, tables and core properties of a Word document."""
    try:
        with zipfile.ZipFile(path) as archive:
            body = _body(archive)
            properties = _properties(archive)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        ElementTree.ParseError,
        EOFError,
        OSError,
        NotImplementedError,  # a compression method zipfile does not know
        RuntimeError,  # an encrypted member
    ) as exc:
        raise Unreadable(f"the Word document is corrupt or unreadable: {exc}") from exc
    if body is None:
        raise Unreadable("the Word document has no body (word/document.xml)")
    text = "\n".join(body["paragraphs"])
    truncated = len(text) > MAX_TEXT_CHARS
    text = text[:MAX_TEXT_CHARS]
    info: dict[str, Any] = {
        "format": "docx",
        "truncated": truncated,
        "metadata": properties,
        "paragraphs": body["count"],
        "tables": body["tables"],
        "headings": body["headings"],
    }
    info.update(_document(text, keep_text=keep_text))
    if summary:
        # Each paragraph is a unit of its own: a heading (reported apart) or a
        # table cell run into the sentence after it would make a false sentence.
        info["summary"] = summarize("\n\n".join(body["prose"])[:MAX_TEXT_CHARS])
    return info
