"""The sections of a result's page, one function per part of the analysis.

Each takes the analysis as the container wrote it (any field may be missing
or of another type) and returns escaped HTML, or "" when it has nothing to show.
"""

from __future__ import annotations

import re
from typing import Any

from client.markup import (
    MAX_ITEMS,
    as_dict,
    as_list,
    clip,
    esc,
    facts_table,
    finite,
    grid,
    human_size,
    more_note,
    preformatted,
    text_of,
    whole,
)
from client.picture import Picture, figure, ocr_lines

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


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


def summary(a: dict[str, Any]) -> str:
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


def top_words(a: dict[str, Any]) -> str:
    if a.get("format") == "csv":
        return ""  # a table's cells are no vocabulary
    rows = [
        [text_of(w.get("word")) or "", whole(w.get("count")) or ""]
        for w in (as_dict(x) for x in as_list(a.get("top_words")))
    ]
    if not rows:
        return ""
    return "<h3>Most frequent words</h3>" + grid(["word", "count"], rows, {1})


def headings(a: dict[str, Any]) -> str:
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
    more = more_note(len(as_list(a.get("headings"))))
    return f"<h2>Outline</h2><ul>{''.join(items)}</ul>{more}"


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


def metadata(a: dict[str, Any]) -> str:
    meta = as_dict(a.get("metadata"))
    rows = []
    for key, value in meta.items():
        text = text_of(value)
        label = PROPERTY_NAMES.get(str(key).lower(), str(key))
        rows.append((label, readable_date(text) if text else None))
    table = facts_table(rows)
    return f"<h2>Document properties</h2>{table}" if table else ""


def csv(a: dict[str, Any]) -> str:
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
        rows = [
            [
                text_of(c.get("name")) or "",
                "numbers" if c.get("numeric") is True else "text",
                whole(c.get("filled")) or "",
            ]
            for c in columns
        ]
        out += ["<h3>Columns</h3>", grid(["column", "holds", "filled rows"], rows, {2})]
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


def colours(a: dict[str, Any]) -> str:
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
        shown = "" if share is None else f"{share * 100:.1f} %"
        rows.append(f'<tr><td>{cell}</td><td class="num">{shown}</td></tr>')
    if not rows:
        return ""
    head = "<h3>Main colours</h3><table><tr><th>colour</th><th>share</th></tr>"
    return f"{head}{''.join(rows)}</table>"


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


def image(result: Any, picture: Picture | None, standalone: bool) -> str:
    a = as_dict(as_dict(result).get("analysis"))
    out: list[str] = []
    ocr = as_dict(a.get("ocr"))
    lines = ocr_lines(result)
    if ocr or lines:
        out += ["<h2>Text in the image</h2>", _ocr_state(ocr)]
        if standalone:
            out.append(figure(result, picture))
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
    out.append(colours(a))
    return "".join(out)


def _ms(part: dict[str, Any]) -> str | None:
    ms = finite(part.get("duration_ms"))
    return None if ms is None else f"{ms / 1000:.2f} s"


def pdf(a: dict[str, Any], limit: int) -> str:
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
        rows = [
            [
                text_of(p.get("range")) or "",
                len(as_list(p.get("pages"))),
                human_size(p.get("size")) or "",
            ]
            for p in parts
        ]
        out += ["<h2>Parts</h2>", grid(["range", "pages", "size"], rows, {1, 2})]
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
