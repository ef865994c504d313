"""What the reference processor finds in a PDF, and splitting one into parts.

pypdf reads metadata, the text layer and writes the parts; pages without a
text layer (scans) are rendered with PDFium and read by OCR. Rendering is
bounded in pixels and OCR in pages, so a hostile page size or a thousand-page
scan costs a bounded time (the server's time limit is the last resort).
"""

from __future__ import annotations

import base64
import io
import logging
import re
import time
from pathlib import Path
from typing import Any

from processor import ocr, progress
from processor.errors import BadParams, TooLarge, Unreadable
from processor.images import clean
from processor.summary import WORD, summarize, text_stats

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1_000_000
"""Text returned for the whole document; the rest is cut (``truncated``)."""
MAX_OCR_PAGES = 20
"""Pages read by OCR per document; later text-less pages are listed, not read."""
OCR_DPI = 200
MAX_RENDER_PIXELS = 12_000_000
"""Pixels of one rendered page (a letter page at 200 dpi has 3.7 million)."""
MAX_PARTS = 50
MAX_PARTS_BYTES = 25 * 1024 * 1024
"""Bytes of all split parts together, before base64."""
# ASCII digits, at most nine: a longer page number is no page of any PDF (and
# thousands of digits would make int() itself fail).
RANGE = re.compile(r"^\s*([0-9]{0,9})\s*(-?)\s*([0-9]{0,9})\s*$")


def parse_ranges(spec: Any) -> list[tuple[int, int | None]]:
    """``["1-2", "3-", "5", "-4"]`` as (first, last) pairs, last None for "to the end"."""
    if not isinstance(spec, list) or not spec or not all(isinstance(s, str) for s in spec):
        raise BadParams('"split" must be a list of page ranges such as ["1-2", "3-"]')
    if len(spec) > MAX_PARTS:
        raise BadParams(f'"split" asks for {len(spec)} parts; at most {MAX_PARTS}')
    ranges: list[tuple[int, int | None]] = []
    for item in spec:
        match = RANGE.match(item)
        if not match or not (match.group(1) or match.group(3)):
            raise BadParams(f"page range {item!r} is not like '2', '1-3', '4-' or '-5'")
        first_text, dash, last_text = match.groups()
        first = int(first_text) if first_text else 1
        last = first if not dash else int(last_text) if last_text else None
        if first < 1 or (last is not None and last < first):
            raise BadParams(f"page range {item!r} is empty or starts before page 1")
        ranges.append((first, last))
    return ranges


def _split(reader: Any, spec: list[str], pages: int) -> list[dict[str, Any]]:
    from pypdf import PdfWriter

    parts: list[dict[str, Any]] = []
    total = 0
    for item, (first, last) in zip(spec, parse_ranges(spec), strict=True):
        end = pages if last is None else last
        if first > pages or end > pages:
            raise BadParams(f"page range {item!r} is outside the document's {pages} pages")
        writer = PdfWriter()
        for index in range(first - 1, end):
            writer.add_page(reader.pages[index])
        if reader.metadata:
            writer.add_metadata({k: str(v) for k, v in reader.metadata.items()})
        buffer = io.BytesIO()
        writer.write(buffer)
        data = buffer.getvalue()
        total += len(data)
        if total > MAX_PARTS_BYTES:
            raise TooLarge(
                f"the split parts come to over {MAX_PARTS_BYTES} bytes; ask for fewer or"
                " smaller ranges"
            )
        parts.append(
            {
                "range": item,
                "pages": list(range(first, end + 1)),
                "size": len(data),
                "content_type": "application/pdf",
                "pdf_base64": base64.b64encode(data).decode("ascii"),
            }
        )
    return parts


def _render(document: Any, index: int) -> Any:
    """One page as a PIL image at OCR resolution, never over MAX_RENDER_PIXELS."""
    page = document[index]
    try:
        width, height = page.get_size()
        scale = OCR_DPI / 72
        if width * height * scale * scale > MAX_RENDER_PIXELS:
            scale = (MAX_RENDER_PIXELS / max(width * height, 1.0)) ** 0.5
        return page.render(scale=scale).to_pil()
    finally:
        page.close()


def _ocr_pages(path: Path, numbers: list[int]) -> dict[int, dict[str, Any]]:
    """OCR of the given 1-based pages; a page PDFium cannot render gets an error entry."""
    import pypdfium2

    found: dict[int, dict[str, Any]] = {}
    document = pypdfium2.PdfDocument(str(path))
    try:
        for number in numbers:
            try:
                image = _render(document, number - 1)
            except (pypdfium2.PdfiumError, ValueError, MemoryError) as exc:
                found[number] = {"available": True, "error": f"page could not be rendered: {exc}"}
                continue
            result = ocr.recognize(image)
            result.pop("lines", None)  # per-line boxes of whole pages would bloat the result
            found[number] = result
            progress.report(len(numbers) + len(found), len(numbers) * 2)
    finally:
        document.close()
    return found


def analyze_pdf(
    path: Path,
    *,
    text: bool = True,
    ocr_mode: str = "missing",
    summary: bool = True,
    keep_text: bool = True,
    split: list[str] | None = None,
) -> dict[str, Any]:
    """Metadata and page count; with ``text`` the text of each page.

    ``ocr_mode`` is ``missing`` (OCR pages without a text layer), ``all`` or
    ``none``. ``keep_text`` False leaves the page texts out (stats and summary
    stay).
    """
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise Unreadable("the PDF is encrypted; send it without a password")
        meta: dict[Any, Any] = dict(reader.metadata or {})
        pages = len(reader.pages)
        info: dict[str, Any] = {
            "pages": pages,
            "metadata": {
                key.lstrip("/").lower(): clean(value)
                for key, value in meta.items()
                if isinstance(key, str)
            },
        }
        if split:
            info["parts"] = _split(reader, split, pages)
        if not text:
            return info
        layer = []
        for number, page in enumerate(reader.pages, start=1):
            layer.append(page.extract_text() or "")
            # Text layers are quick; OCR, when needed, is the second half.
            progress.report(number, pages * 2)
    except LimitReachedError as exc:
        raise TooLarge(f"the PDF goes past a limit of the PDF reader: {exc}") from exc
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise Unreadable(f"the PDF is corrupt or unreadable: {exc}") from exc

    wanted = [
        n
        for n in range(1, pages + 1)
        if ocr_mode == "all" or (ocr_mode == "missing" and not layer[n - 1].strip())
    ]
    started = time.monotonic()
    read = _ocr_pages(path, wanted[:MAX_OCR_PAGES]) if wanted else {}
    page_results: list[dict[str, Any]] = []
    texts: list[str] = []
    for number, layer_text in enumerate(layer, start=1):
        entry: dict[str, Any] = {"page": number}
        page_text, source = layer_text, "text-layer" if layer_text.strip() else "none"
        found = read.get(number)
        if found is not None:
            entry["ocr"] = {k: v for k, v in found.items() if k != "text"}
            if not layer_text.strip() and found.get("text"):
                page_text, source = found["text"], "ocr"
        elif number in wanted:
            entry["ocr"] = {"skipped": f"only the first {MAX_OCR_PAGES} pages are read by OCR"}
        entry.update(source=source, words=len(WORD.findall(page_text)), characters=len(page_text))
        if keep_text:
            entry["text"] = page_text
            if found is not None and ocr_mode == "all":
                entry["ocr_text"] = found.get("text", "")
        page_results.append(entry)
        texts.append(page_text)
    whole = "\n".join(texts)
    truncated = len(whole) > MAX_TEXT_CHARS
    whole = whole[:MAX_TEXT_CHARS]
    if keep_text:
        budget = MAX_TEXT_CHARS
        for entry in page_results:
            entry["text"] = entry["text"][: max(budget, 0)]
            budget -= len(entry["text"])
    info["text_pages"] = page_results
    info["truncated"] = truncated
    info["ocr"] = _ocr_overview(read, wanted, started)
    info.update(text_stats(whole))
    if summary:
        info["summary"] = summarize(whole)
    return info


def _ocr_overview(
    read: dict[int, dict[str, Any]], wanted: list[int], started: float
) -> dict[str, Any]:
    if not wanted:
        return {"pages": []}
    first = next(iter(read.values()), {})
    overview: dict[str, Any] = {
        "available": bool(first.get("available", False)),
        "pages": sorted(read),
        "duration_ms": round((time.monotonic() - started) * 1000),
    }
    if not overview["available"]:
        overview["reason"] = first.get("reason")
    else:
        overview["device"] = next((r["device"] for r in read.values() if "device" in r), None)
    if len(wanted) > len(read):
        overview["skipped"] = wanted[len(read) :]
    return overview
