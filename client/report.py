"""A result as a page a person reads: the summary and key facts first, then
tables, the text page by page, and for images the picture with the OCR boxes.

Pure (no Qt), so the tray app's viewer shows the same page the headless agent
can write beside a result (``client.html_reports``). Results come from an
analysis container the desktop does not control: every string taken from one
is escaped, every field may be missing or of another type, and nothing in a
page refers to anything outside it (the standalone page forbids it with a
Content-Security-Policy; pictures are inlined as ``data:`` URIs). A shape this
module does not know is still shown, field by field.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.markup import (
    MAX_ITEMS,
    as_dict,
    as_list,
    clip,
    esc,
    facts_table,
    finite,
    generic,
    grid,
    human_size,
    more_note,
    preformatted,
    text_of,
    whole,
)

if TYPE_CHECKING:
    from client.agent import Agent
    from client.tracker import JobView

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 200_000
"""Characters of extracted text shown in one page; the raw result keeps the rest."""
MAX_PICTURE_BYTES = 25 * 1024 * 1024
"""Originals larger than this are not inlined into a report."""
MAX_PICTURE_PIXELS = 64_000_000
"""Pixels of an original converted for a page (the processor's own limit)."""
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
PICTURE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
# The standalone page loads nothing: no scripts, no fonts, no remote pictures.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: sans-serif; color: #212121; margin: 1.5em auto; max-width: 60em; }
h1 { font-size: 1.5em; margin-bottom: 0.1em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.4em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.sub { color: #616161; margin-top: 0; }
.summary { font-size: 1.05em; background: #f1f8e9; padding: 0.6em 0.8em; }
.note { color: #8d6e63; }
.warn { color: #c62828; }
table { border-collapse: collapse; margin: 0.4em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
table.facts th { width: 11em; }
td.num { text-align: right; }
pre { white-space: pre-wrap; word-wrap: break-word; background: #fafafa;
      border: 1px solid #eee; padding: 0.5em; font-size: 0.92em; }
.swatch { display: inline-block; width: 1.4em; height: 1em; border: 1px solid #999;
          vertical-align: middle; }
figure { margin: 0.5em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #ddd; }
.page { page-break-inside: avoid; }
@media print {
  body { max-width: none; margin: 0; }
  h2 { page-break-after: avoid; }
  pre { border: none; background: none; }
}
"""


@dataclass(frozen=True)
class Picture:
    """The original image a result describes, to draw its OCR boxes over."""

    data: bytes
    mime: str


def picture_mime(data: bytes) -> str | None:
    """The media type of a picture a browser shows, from its first bytes."""
    for magic, mime in PICTURE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def load(data: bytes) -> Any | None:
    """The result's JSON, or None when it is not JSON."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def find_picture(result: Any, candidates: Iterable[Path | None]) -> Picture | None:
    """The original image among ``candidates`` (e.g. where it was moved to ``done/``).

    Only a file with the analysed file's SHA-256 is taken (when the result
    says it), so a file replaced since never gets the old boxes drawn on it.
    """
    if not isinstance(result, dict) or result.get("kind") != "image":
        return None
    wanted = result.get("sha256")
    for path in candidates:
        if path is None:
            continue
        try:
            if not path.is_file() or path.stat().st_size > MAX_PICTURE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if isinstance(wanted, str) and hashlib.sha256(data).hexdigest() != wanted:
            continue
        mime = picture_mime(data)
        if mime is None and data[:4] in (b"II*\x00", b"MM\x00*"):
            data, mime = _png_of(data), "image/png"  # browsers show no TIFF
        if mime is None or not data:
            continue
        return Picture(data, mime)
    return None


def _png_of(picture: bytes) -> bytes:
    """A TIFF's first frame as PNG (empty when it cannot be read or is too large)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(picture)) as image:
            if image.width * image.height > MAX_PICTURE_PIXELS:
                return b""
            out = io.BytesIO()
            image.convert("RGB").save(out, "PNG")
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return b""


def facts(result: Any) -> list[tuple[str, str]]:
    """The key facts of a result, in the order a reader wants them (label, value)."""
    top = as_dict(result)
    a = as_dict(top.get("analysis"))
    exif = as_dict(a.get("exif"))
    table = as_dict(a.get("table"))
    rows: list[tuple[str, str | None]] = [
        ("Kind", text_of(top.get("kind"))),
        ("Type", text_of(top.get("content_type"))),
        ("Size", human_size(top.get("size"))),
        ("Pages", whole(a.get("pages")) if not isinstance(a.get("pages"), list) else None),
        ("Words", whole(a.get("words"))),
        ("Lines", whole(a.get("lines"))),
        ("Characters", whole(a.get("characters"))),
        ("Paragraphs", whole(a.get("paragraphs"))),
        ("Tables", whole(a.get("tables"))),
        ("Rows", whole(table.get("rows"))),
        ("Columns", whole(table.get("column_count"))),
        ("Language", text_of(a.get("language")) or text_of(top.get("language"))),
        ("Format", text_of(a.get("format"))),
        ("Encoding", text_of(a.get("encoding"))),
    ]
    width, height = finite(a.get("width")), finite(a.get("height"))
    if width is not None and height is not None:
        rows.append(("Dimensions", f"{width:.0f} × {height:.0f} pixels"))
    rows += [
        ("Colour mode", text_of(a.get("mode"))),
        ("Frames", whole(a.get("frames")) if finite(a.get("frames")) not in (None, 1.0) else None),
        ("Camera", " ".join(filter(None, (text_of(exif.get("make")), text_of(exif.get("model")))))),
        ("Taken", text_of(exif.get("taken"))),
        ("Location", _gps(exif.get("gps"))),
        ("Perceptual hash", text_of(a.get("perceptual_hash"))),
        ("Profile", text_of(top.get("profile"))),
        ("Processed by", _processor(top)),
        ("SHA-256", text_of(top.get("sha256"))),
    ]
    if a.get("truncated") is True:
        rows.append(("Cut short", "yes: the file was longer than the analysis reads"))
    return [(k, v) for k, v in rows if v]


def _gps(value: Any) -> str | None:
    gps = as_dict(value)
    lat, lon = finite(gps.get("latitude")), finite(gps.get("longitude"))
    if lat is None or lon is None:
        return None
    return f"{abs(lat):.5f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.5f}° {'E' if lon >= 0 else 'W'}"


def _processor(top: dict[str, Any]) -> str | None:
    proc = as_dict(top.get("processor"))
    name = " ".join(filter(None, (text_of(proc.get("name")), text_of(proc.get("version")))))
    ms = finite(top.get("duration_ms"))
    took = f"in {ms / 1000:.1f} s" if ms is not None else ""
    return " ".join(filter(None, (name, took))) or None


def _summary(a: dict[str, Any]) -> str:
    parts: list[str] = []
    summary = a.get("summary")
    text = text_of(summary) if not isinstance(summary, dict) else text_of(summary.get("text"))
    if text is None and isinstance(summary, dict):
        text = " ".join(str(s) for s in as_list(summary.get("sentences"))) or None
    if text:
        parts.append(f'<p class="summary">{esc(clip(text, 5_000)[0])}</p>')
    llm = as_dict(a.get("llm"))
    answer = text_of(llm.get("answer"))
    if answer:
        model = text_of(llm.get("model"))
        by = f" ({esc(model)})" if model else ""
        parts.append(f"<h3>The language model's answer{by}</h3>{preformatted(answer, 20_000)}")
    if not parts:
        return ""
    return "<h2>Summary</h2>" + "".join(parts)


def _top_words(a: dict[str, Any]) -> str:
    if a.get("format") == "csv":
        return ""  # a table's cells are no vocabulary
    rows = [
        [text_of(w.get("word")) or "", whole(w.get("count")) or ""]
        for w in (as_dict(x) for x in as_list(a.get("top_words")))
    ]
    if not rows:
        return ""
    return "<h3>Most frequent words</h3>" + grid(["word", "count"], rows, {1})


def _headings(a: dict[str, Any]) -> str:
    items = []
    for h in (as_dict(x) for x in as_list(a.get("headings"))[:MAX_ITEMS]):
        text = text_of(h.get("text"))
        if not text:
            continue
        level = finite(h.get("level")) or 1
        indent = "&nbsp;" * 4 * max(0, min(int(level), 6) - 1)
        items.append(f"<li>{indent}{esc(text)}</li>")
    if not items:
        return ""
    return (
        "<h2>Outline</h2><ul>"
        + "".join(items)
        + "</ul>"
        + more_note(len(as_list(a.get("headings"))))
    )


# Document properties as PDF and Word name them, in words.
PROPERTY_NAMES = {
    "title": "Title",
    "subject": "Subject",
    "author": "Author",
    "creator": "Author",
    "lastmodifiedby": "Last changed by",
    "producer": "Made with",
    "created": "Created",
    "creationdate": "Created",
    "modified": "Changed",
    "moddate": "Changed",
    "keywords": "Keywords",
}
PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?")


def readable_date(value: str) -> str:
    """A PDF date (``D:20261201225221Z``) as ``2026-12-01 22:52:21``; anything else as is."""
    match = PDF_DATE.match(value)
    if not match:
        return value
    year, month, day, hour, minute, second = (g or "" for g in match.groups())
    date = "-".join(p for p in (year, month, day) if p)
    time = ":".join(p for p in (hour, minute, second) if p)
    zone = value[match.end() :].replace("'", "")
    return " ".join(p for p in (date, time, "UTC" if zone == "Z" else zone) if p)


def _metadata(a: dict[str, Any]) -> str:
    meta = as_dict(a.get("metadata"))
    rows = []
    for key, value in meta.items():
        text = text_of(value)
        label = PROPERTY_NAMES.get(str(key).lower(), str(key))
        rows.append((label, readable_date(text) if text else None))
    table = facts_table(rows)
    return f"<h2>Document properties</h2>{table}" if table else ""


def _csv(a: dict[str, Any]) -> str:
    table = as_dict(a.get("table"))
    if not table:
        return ""
    out = ["<h2>Table</h2>"]
    delimiter = text_of(table.get("delimiter"))
    if delimiter:
        shown = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "bar"}.get(delimiter, delimiter)
        out.append(f'<p class="sub">Separated by {esc(shown)}.</p>')
    columns = [as_dict(c) for c in as_list(table.get("columns"))]
    if columns:
        out.append("<h3>Columns</h3>")
        out.append(
            grid(
                ["column", "holds", "filled rows"],
                [
                    [
                        text_of(c.get("name")) or "",
                        "numbers" if c.get("numeric") is True else "text",
                        whole(c.get("filled")) or "",
                    ]
                    for c in columns
                ],
                {2},
            )
        )
    sample = [
        [text_of(cell) or "" for cell in as_list(r)] for r in as_list(table.get("sample_rows"))
    ]
    if sample:
        out.append("<h3>First rows</h3>")
        header = [text_of(c.get("name")) or "" for c in columns]
        width = max([len(header), *(len(r) for r in sample)])
        header += [""] * (width - len(header))
        out.append(grid(header, [r + [""] * (width - len(r)) for r in sample]))
    return "".join(out)


def _colours(a: dict[str, Any]) -> str:
    rows = []
    for c in (as_dict(x) for x in as_list(a.get("dominant_colours"))[:20]):
        hexa = text_of(c.get("hex")) or ""
        share = finite(c.get("fraction"))
        swatch = (
            f'<span class="swatch" style="background-color: {hexa}">&nbsp;&nbsp;&nbsp;</span> '
            if HEX_COLOUR.match(hexa)
            else ""
        )
        cell = f"{swatch}{esc(hexa)}"
        rows.append(f'<tr><td>{cell}</td><td class="num">{_share(share)}</td></tr>')
    if not rows:
        return ""
    return (
        "<h3>Main colours</h3><table><tr><th>colour</th><th>share</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _share(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f} %"


def _ocr_state(ocr: dict[str, Any]) -> str:
    if not ocr:
        return ""
    if ocr.get("available") is False:
        reason = text_of(ocr.get("reason")) or "no reason given"
        return f'<p class="note">No text recognition: {esc(reason)}</p>'
    if text_of(ocr.get("error")):
        return f'<p class="warn">Text recognition failed: {esc(ocr.get("error"))}</p>'
    if text_of(ocr.get("skipped")):
        return f'<p class="note">{esc(ocr.get("skipped"))}</p>'
    return ""


def _box_points(box: Any) -> list[tuple[float, float]] | None:
    points = []
    for point in as_list(box)[:16]:
        pair = as_list(point)
        if len(pair) != 2:
            return None
        x, y = finite(pair[0]), finite(pair[1])
        if x is None or y is None:
            return None
        points.append((x, y))
    return points if len(points) >= 3 else None


def ocr_lines(result: Any) -> list[tuple[str, float | None, list[tuple[float, float]] | None]]:
    """(text, confidence, box) of each recognised line of an image result."""
    ocr = as_dict(as_dict(as_dict(result).get("analysis")).get("ocr"))
    lines = []
    for line in (as_dict(x) for x in as_list(ocr.get("lines"))):
        lines.append(
            (
                text_of(line.get("text")) or "",
                finite(line.get("confidence")),
                _box_points(line.get("box")),
            )
        )
    return lines


def _figure(result: Any, picture: Picture | None) -> str:
    """The picture with the OCR boxes over it, as one inline SVG."""
    a = as_dict(as_dict(result).get("analysis"))
    width, height = finite(a.get("width")), finite(a.get("height"))
    lines = ocr_lines(result)
    if width is None or height is None or width <= 0 or height <= 0:
        return ""
    shapes = []
    for number, (text, _conf, box) in enumerate(lines[:MAX_ITEMS], start=1):
        if box is None:
            continue
        points = " ".join(f"{x:.0f},{y:.0f}" for x, y in box)
        shapes.append(
            f'<polygon points="{points}" fill="#ffeb3b" fill-opacity="0.25" stroke="#e53935"'
            f' stroke-width="{max(1.0, width / 400):.1f}">'
            f"<title>{number}: {esc(text)}</title></polygon>"
        )
    if picture is not None:
        uri = f"data:{picture.mime};base64,{base64.b64encode(picture.data).decode('ascii')}"
        back = f'<image href="{esc(uri)}" x="0" y="0" width="{width:.0f}" height="{height:.0f}"/>'
        note = ""
    else:
        back = f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#eeeeee"/>'
        note = (
            '<p class="note">The original image is not here (it is looked for where the file'
            " was moved after sending, e.g. <code>done/</code>); the boxes are drawn alone.</p>"
        )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}"'
        f' width="{min(width, 900):.0f}" role="img" aria-label="the image with the text boxes">'
        f"{back}{''.join(shapes)}</svg>"
    )
    return f"<figure>{svg}</figure>{note}"


def _image(result: Any, picture: Picture | None, standalone: bool) -> str:
    a = as_dict(as_dict(result).get("analysis"))
    out: list[str] = []
    ocr = as_dict(a.get("ocr"))
    lines = ocr_lines(result)
    if ocr or lines:
        out.append("<h2>Text in the image</h2>")
        out.append(_ocr_state(ocr))
        if standalone:
            out.append(_figure(result, picture))
        elif lines:
            out.append('<p class="note">The Picture tab shows where each line is.</p>')
        if lines:
            rows = [
                [n, text, "" if conf is None else f"{conf * 100:.0f} %"]
                for n, (text, conf, _box) in enumerate(lines, start=1)
            ]
            out.append(grid(["#", "line", "confidence"], rows, {0, 2}))
        elif not _ocr_state(ocr):
            out.append('<p class="note">No text was found.</p>')
        engine = ", ".join(
            filter(None, (text_of(ocr.get("engine")), text_of(ocr.get("device")), _ms(ocr)))
        )
        if engine:
            out.append(f'<p class="sub">Read by {esc(engine)}.</p>')
    out.append(_colours(a))
    return "".join(out)


def _ms(part: dict[str, Any]) -> str | None:
    ms = finite(part.get("duration_ms"))
    return None if ms is None else f"{ms / 1000:.2f} s"


def _pdf(a: dict[str, Any], limit: int) -> str:
    out: list[str] = []
    ocr = as_dict(a.get("ocr"))
    read = [whole(p) for p in as_list(ocr.get("pages"))]
    if ocr.get("available") is False:
        out.append(_ocr_state(ocr))
    elif read:
        where = ", ".join(filter(None, (text_of(ocr.get("device")), _ms(ocr))))
        out.append(
            f'<p class="sub">Pages read by text recognition: {esc(", ".join(filter(None, read)))}'
            f"{f' ({esc(where)})' if where else ''}.</p>"
        )
    skipped = [whole(p) for p in as_list(ocr.get("skipped"))]
    if skipped:
        out.append(
            f'<p class="note">Not read by text recognition (over the page limit): pages'
            f" {esc(', '.join(filter(None, skipped)))}.</p>"
        )
    parts = [as_dict(p) for p in as_list(a.get("parts"))]
    if parts:
        out.append("<h2>Parts</h2>")
        out.append(
            grid(
                ["range", "pages", "size"],
                [
                    [
                        text_of(p.get("range")) or "",
                        len(as_list(p.get("pages"))),
                        human_size(p.get("size")) or "",
                    ]
                    for p in parts
                ],
                {1, 2},
            )
        )
    pages = [as_dict(p) for p in as_list(a.get("text_pages"))]
    if pages:
        out.append("<h2>Pages</h2>")
    budget = limit
    sources = {"text-layer": "text layer", "ocr": "text recognition", "none": "no text"}
    for index, page in enumerate(pages[:MAX_ITEMS], start=1):
        number = whole(page.get("page")) or str(index)
        source = text_of(page.get("source"))
        words = whole(page.get("words"))
        bits = [sources.get(source or "", source or "")] + ([f"{words} words"] if words else [])
        detail = ", ".join(b for b in bits if b)
        out.append(f'<div class="page"><h3>Page {esc(number)}</h3>')
        if detail:
            out.append(f'<p class="sub">{esc(detail)}</p>')
        out.append(_ocr_state(as_dict(page.get("ocr"))))
        text = page.get("text")
        if isinstance(text, str) and text.strip():
            if budget > 0:
                out.append(preformatted(text, budget))
            budget -= len(text)
        ocr_text = page.get("ocr_text")
        if isinstance(ocr_text, str) and ocr_text.strip() and budget > 0:
            out.append(
                f'<p class="sub">As read by text recognition:</p>{preformatted(ocr_text, budget)}'
            )
            budget -= len(ocr_text)
        out.append("</div>")
    if budget < 0:
        out.append(
            '<p class="note">Later pages\' text is left out here to keep the page readable;'
            " the raw result has all of it.</p>"
        )
    out.append(more_note(len(pages), what="more pages"))
    return "".join(out)


# Fields each kind's own sections already show; the rest go to "Other details".
SHOWN_TOP = {
    "job",
    "kind",
    "content_type",
    "size",
    "sha256",
    "profile",
    "analysis",
    "processor",
    "duration_ms",
    "notes",
    "language",
}
SHOWN_ANALYSIS = {
    "pages",
    "words",
    "lines",
    "characters",
    "paragraphs",
    "tables",
    "table",
    "language",
    "format",
    "encoding",
    "width",
    "height",
    "mode",
    "frames",
    "exif",
    "perceptual_hash",
    "truncated",
    "summary",
    "llm",
    "top_words",
    "headings",
    "metadata",
    "dominant_colours",
    "ocr",
    "text",
    "text_pages",
    "parts",
}


def _others(top: dict[str, Any], a: dict[str, Any]) -> str:
    rest: dict[str, Any] = {k: v for k, v in top.items() if k not in SHOWN_TOP}
    if "analysis" in top and not isinstance(top.get("analysis"), dict):
        rest["analysis"] = top["analysis"]
    rest.update({k: v for k, v in a.items() if k not in SHOWN_ANALYSIS})
    image_exif = as_dict(a.get("exif"))
    extra_exif = {k: v for k, v in image_exif.items() if k not in ("make", "model", "taken", "gps")}
    if extra_exif:
        rest["exif"] = extra_exif
    if not rest:
        return ""
    return "<h2>Other details</h2>" + generic(rest)


def _sections(
    result: Any, picture: Picture | None, standalone: bool, limit: int
) -> list[Callable[[], str]]:
    top = as_dict(result)
    a = as_dict(top.get("analysis"))
    kind = text_of(top.get("kind"))

    def notes() -> str:
        items = [text_of(n) for n in as_list(top.get("notes"))]
        shown = "".join(f"<li>{esc(n)}</li>" for n in items if n)
        return f'<ul class="note">{shown}</ul>' if shown else ""

    def key_facts() -> str:
        table = facts_table(list(facts(result)))
        return f"<h2>Key facts</h2>{table}" if table else ""

    def text() -> str:
        body = a.get("text")
        if not isinstance(body, str) or kind == "pdf":
            return ""
        if not body.strip():
            return '<h2>Text</h2><p class="note">The file holds no text.</p>'
        return "<h2>Text</h2>" + preformatted(body, limit)

    def by_kind() -> str:
        if kind == "image":
            return _image(result, picture, standalone)
        if kind == "pdf":
            return _pdf(a, limit)
        return _csv(a)

    return [
        lambda: _summary(a),
        notes,
        key_facts,
        lambda: _metadata(a),
        lambda: _headings(a),
        by_kind,
        lambda: _top_words(a),
        text,
        lambda: _others(top, a),
    ]


def body(
    result: Any,
    *,
    name: str,
    picture: Picture | None = None,
    standalone: bool = True,
    max_text: int = MAX_TEXT_CHARS,
) -> str:
    """The page's body (title, sections); one broken section never hides the others."""
    top = as_dict(result)
    out = [f"<h1>{esc(name)}</h1>"]
    kind = text_of(top.get("kind"))
    ctype = text_of(top.get("content_type"))
    what = {"image": "An image", "pdf": "A PDF document", "text": "A text document"}.get(
        kind or "", f"A result of kind {kind}" if kind else "A result"
    )
    out.append(f'<p class="sub">{esc(what)}{f" ({esc(ctype)})" if ctype else ""}</p>')
    if result is None:
        out.append(
            '<p class="warn">This result is not valid JSON; the raw result shows it as it is.</p>'
        )
        return "".join(out)
    if not isinstance(result, dict):
        return "".join(out) + "<h2>Result</h2>" + generic(result)
    for section in _sections(result, picture, standalone, max_text):
        try:
            out.append(section())
        except Exception:  # an odd shape must not hide the rest of the result
            log.exception("a part of the result could not be shown")
            out.append(
                '<p class="warn">A part of this result could not be shown; see the raw result.</p>'
            )
    return "".join(out)


def render(
    result: Any,
    *,
    name: str,
    picture: Picture | None = None,
    standalone: bool = True,
    max_text: int = MAX_TEXT_CHARS,
) -> str:
    """A whole HTML page: self-contained and printable when ``standalone``.

    Without ``standalone`` (the tray app's viewer, whose widget shows a subset
    of HTML) the picture is left to the viewer's own Picture tab.
    """
    inner = body(result, name=name, picture=picture, standalone=standalone, max_text=max_text)
    head = f"<title>{esc(name)}</title><style>{STYLE}</style>"
    if standalone:
        head = (
            '<meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">' + head
        )
        return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>{inner}</body></html>\n'
    return f"<html><head>{head}</head><body>{inner}</body></html>"


def report_path(result_path: Path) -> Path:
    """Where a result's report goes: beside it, ``.html`` in place of its suffix."""
    return result_path.with_suffix(".html")


def write_report(result_path: Path, originals: Iterable[Path | None] = ()) -> Path | None:
    """Write the report of a JSON result beside it; None when the result is not JSON."""
    result = load(result_path.read_bytes())
    if result is None:
        return None
    picture = find_picture(result, originals)
    page = render(result, name=result_path.name.removesuffix(".result.json"), picture=picture)
    target = report_path(result_path)
    tmp = target.with_name(target.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target


def originals(agent: Agent | None, view: JobView) -> list[Path | None]:
    """Where the original of a job may be now: where the agent last moved it
    (``done/``), then where it was dropped."""
    drop = agent.engine.state.get(view.file_id) if agent is not None else None
    return [drop.path if drop is not None else None, view.path]


def write_reports(agent: Agent) -> None:
    """Have ``agent`` write a report beside each JSON result it saves (``client.html_reports``).

    Runs in the agent's threads after the result is written; a report that
    cannot be written is logged and the result stays as it is.
    """
    from client.state import Phase

    def on_view(view: JobView) -> None:
        path = view.result_path
        if view.phase is not Phase.DONE or view.stage != "done" or path is None:
            return
        if path.suffix.lower() != ".json":
            return
        try:
            target = write_report(path, originals(agent, view))
        except (OSError, ValueError) as exc:
            log.warning("%s: the HTML report could not be written: %s", view.name, exc)
            return
        if target is not None:
            log.info("%s: report saved to %s", view.name, target)

    agent.add_listener(on_view)
