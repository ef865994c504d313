"""The original picture of an image result, and the OCR boxes drawn over it.

The original is looked for where the agent left it (``done/``) and taken only
when its SHA-256 is the one the result names, so boxes are never drawn over a
file replaced since. Every coordinate is checked; nothing is loaded from
outside the page (the picture is inlined as a ``data:`` URI).
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.markup import MAX_ITEMS, as_dict, as_list, esc, finite, text_of

MAX_PICTURE_BYTES = 25 * 1024 * 1024
"""Originals larger than this are not inlined into a report."""
MAX_PICTURE_PIXELS = 64_000_000
"""Pixels of an original converted for a page (the processor's own limit)."""
PICTURE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


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
    lines = [as_dict(x) for x in as_list(ocr.get("lines"))]
    return [
        (text_of(n.get("text")) or "", finite(n.get("confidence")), _box_points(n.get("box")))
        for n in lines
    ]


def figure(result: Any, picture: Picture | None) -> str:
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
