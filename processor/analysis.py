"""What the reference processor finds in a file.

Each analysis takes a path (the file is on disk, never read whole into
memory when it need not be) and returns a JSON-ready dict, or raises an
``AnalysisError`` whose status tells the fetcher whether to give up.
"""

from __future__ import annotations

import collections
import hashlib
import re
import time
import warnings
from pathlib import Path
from typing import Any

from processor import __version__
from processor.errors import BadParams, TooLarge, Unreadable, Unsupported

PROFILES = ("default", "metadata")
MAX_TEXT_CHARS = 1_000_000
MAX_IMAGE_PIXELS = 64_000_000
IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"II*\x00": "image/tiff",
    b"MM\x00*": "image/tiff",
    b"BM": "image/bmp",
}
WORD = re.compile(r"\w+", re.UNICODE)


def sniff(path: Path, declared: str) -> tuple[str, str]:
    """(kind, content type) from the first bytes, trusting them over the declared type."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    for magic, ctype in IMAGE_MAGIC.items():
        if head.startswith(magic):
            return "image", ctype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head.lstrip()[:5] == b"%PDF-":
        return "pdf", "application/pdf"
    base = declared.split(";")[0].strip().lower()
    if base.startswith("image/") or base == "application/pdf":
        raise Unreadable(f"the file is declared as {base} but is not a readable {base} file")
    if b"\x00" not in head:
        return "text", base if base.startswith("text/") else "text/plain"
    raise Unsupported(f"cannot analyse {base or 'this file'}: supported are images, PDFs and text")


def check_params(params: dict[str, Any]) -> str:
    profile = params.get("profile", "default")
    if profile not in PROFILES:
        raise BadParams(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    return str(profile)


def _dhash(image: Any) -> str:
    """64-bit difference hash: robust to scaling and small edits, cheap to compute."""
    from PIL import Image

    small = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    flatten = getattr(small, "get_flattened_data", None) or small.getdata
    pixels = list(flatten())
    bits = 0
    for row in range(8):
        for col in range(8):
            left = pixels[row * 9 + col]
            right = pixels[row * 9 + col + 1]
            bits = (bits << 1) | (1 if left > right else 0)
    return f"{bits:016x}"


def _gps(gps: dict[int, Any]) -> dict[str, float] | None:
    def degrees(values: Any, ref: str) -> float:
        d, m, s = (float(v) for v in values)
        value = d + m / 60 + s / 3600
        return -value if ref in ("S", "W") else value

    try:
        return {
            "latitude": round(degrees(gps[2], gps.get(1, "N")), 6),
            "longitude": round(degrees(gps[4], gps.get(3, "E")), 6),
        }
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def analyze_image(path: Path) -> dict[str, Any]:
    from PIL import ExifTags, Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise TooLarge(
                        f"image of {width}x{height} pixels is over the limit of"
                        f" {MAX_IMAGE_PIXELS} (possible decompression bomb)"
                    )
                image.load()
                info: dict[str, Any] = {
                    "format": image.format,
                    "width": width,
                    "height": height,
                    "mode": image.mode,
                    "frames": getattr(image, "n_frames", 1),
                    "perceptual_hash": _dhash(image),
                }
                exif = image.getexif()
                if exif:
                    tags = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.items()}
                    details = exif.get_ifd(ExifTags.IFD.Exif)
                    taken = details.get(0x9003) or tags.get("DateTime")
                    info["exif"] = {
                        "make": _text(tags.get("Make")),
                        "model": _text(tags.get("Model")),
                        "taken": _text(taken),
                        "gps": _gps(exif.get_ifd(ExifTags.IFD.GPSInfo)),
                    }
                return info
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(f"image rejected as a possible decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise Unreadable("the image is corrupt or in an unsupported variant of its format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise Unreadable(f"the image is corrupt or truncated: {exc}") from exc


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip("\x00 ").strip() or None


def text_stats(text: str) -> dict[str, Any]:
    words = WORD.findall(text)
    common = collections.Counter(w.lower() for w in words if len(w) > 3).most_common(10)
    return {
        "characters": len(text),
        "words": len(words),
        "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0),
        "top_words": [{"word": w, "count": c} for w, c in common],
    }


def analyze_pdf(path: Path, profile: str) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise Unreadable("the PDF is encrypted; send it without a password")
        meta: dict[Any, Any] = dict(reader.metadata or {})
        info: dict[str, Any] = {
            "pages": len(reader.pages),
            "metadata": {
                key.lstrip("/").lower(): _text(value)
                for key, value in meta.items()
                if isinstance(key, str)
            },
        }
        if profile == "metadata":
            return info
        pages: list[dict[str, Any]] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            pages.append({"page": number, "text": text, **_counts(text)})
        whole = "\n".join(p["text"] for p in pages)
        info["text_pages"] = pages
        info.update(text_stats(whole))
        return info
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Unreadable(f"the PDF is corrupt or unreadable: {exc}") from exc


def _counts(text: str) -> dict[str, int]:
    return {"words": len(WORD.findall(text)), "characters": len(text)}


def analyze_text(path: Path, profile: str) -> dict[str, Any]:
    raw = path.read_bytes()[: MAX_TEXT_CHARS * 4]
    try:
        text = raw.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        encoding = "latin-1"
    truncated = len(text) > MAX_TEXT_CHARS or path.stat().st_size > len(raw)
    text = text[:MAX_TEXT_CHARS]
    info: dict[str, Any] = {"encoding": encoding, "truncated": truncated, **text_stats(text)}
    if profile != "metadata":
        info["text"] = text
    return info


def analyze(path: Path, content_type: str, params: dict[str, Any], job: str) -> dict[str, Any]:
    """The whole result document for one file."""
    started = time.monotonic()
    profile = check_params(params)
    kind, ctype = sniff(path, content_type)
    if kind == "image":
        analysis = analyze_image(path)
    elif kind == "pdf":
        analysis = analyze_pdf(path, profile)
    else:
        analysis = analyze_text(path, profile)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return {
        "job": job,
        "kind": kind,
        "content_type": ctype,
        "size": path.stat().st_size,
        "sha256": digest.hexdigest(),
        "profile": profile,
        "analysis": analysis,
        "processor": {"name": "fpw-reference", "version": __version__},
        "duration_ms": round((time.monotonic() - started) * 1000),
    }
