"""What the reference processor finds in an image.

Pixels are only decoded once the declared size is known to be under the
bomb limit; every Pillow failure becomes a permanent, worded error.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from processor import ocr
from processor.errors import TooLarge, Unreadable

MAX_IMAGE_PIXELS = 64_000_000
"""Pixels an image may decode to (about 8000 x 8000); more is treated as a bomb."""
BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
"""The pixel count in Pillow's own decompression-bomb message."""
PALETTE_SIZE = 5
"""Dominant colours reported."""


def too_large(pixels: int | None) -> TooLarge:
    """The one answer for an image over the pixel limit, whichever check caught it.

    Pillow refuses some sizes while opening (with its own wording), this module
    the rest before decoding; a reader sees the same sentence and limit either way.
    """
    size = f"{pixels:,} pixels" if pixels else "more pixels than the limit"
    return TooLarge(
        f"the image is {size}; images of at most {MAX_IMAGE_PIXELS:,} pixels"
        " (about 8000 x 8000) are analysed, larger ones are refused as a possible"
        " decompression bomb"
    )


def dhash(image: Any) -> str:
    """64-bit difference hash: robust to scaling and small edits, cheap to compute."""
    from PIL import Image

    small = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    flatten = getattr(small, "get_flattened_data", None) or small.getdata
    pixels = list(flatten())
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (pixels[row * 9 + col] > pixels[row * 9 + col + 1])
    return f"{bits:016x}"


def dominant_colours(image: Any, count: int = PALETTE_SIZE) -> list[dict[str, Any]]:
    """The main colours and the share of the picture each covers (median cut on a thumbnail)."""
    from PIL import Image

    small = image.convert("RGB")
    small.thumbnail((128, 128))
    quantized = small.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    total = small.width * small.height
    found = sorted(quantized.getcolors(count) or [], reverse=True)
    return [
        {
            "hex": "#{:02x}{:02x}{:02x}".format(*palette[index * 3 : index * 3 + 3]),
            "fraction": round(pixels / total, 4),
        }
        for pixels, index in found
    ]


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


def clean(value: Any) -> str | None:
    """A metadata value as text, without the NULs and padding some writers leave."""
    if value is None:
        return None
    return str(value).strip("\x00 ").strip() or None


def _exif(image: Any) -> dict[str, Any] | None:
    from PIL import ExifTags

    exif = image.getexif()
    if not exif:
        return None
    tags = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.items()}
    taken = exif.get_ifd(ExifTags.IFD.Exif).get(0x9003) or tags.get("DateTime")
    return {
        "make": clean(tags.get("Make")),
        "model": clean(tags.get("Model")),
        "taken": clean(taken),
        "gps": _gps(exif.get_ifd(ExifTags.IFD.GPSInfo)),
    }


def analyze_image(path: Path, *, details: bool = True, run_ocr: bool = True) -> dict[str, Any]:
    """Format, size and EXIF always; hash and colours with ``details``; text with ``run_ocr``."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise too_large(width * height)
                image.load()
                info: dict[str, Any] = {
                    "format": image.format,
                    "width": width,
                    "height": height,
                    "mode": image.mode,
                    "frames": getattr(image, "n_frames", 1),
                    "perceptual_hash": dhash(image),
                }
                exif = _exif(image)
                if exif:
                    info["exif"] = exif
                if details:
                    info["dominant_colours"] = dominant_colours(image)
                if run_ocr:
                    info["ocr"] = ocr.recognize(image)
                return info
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = BOMB_PIXELS.search(str(exc))
        raise too_large(int(found.group(1)) if found else None) from exc
    except UnidentifiedImageError as exc:
        raise Unreadable("the image is corrupt or in an unsupported variant of its format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise Unreadable(f"the image is corrupt or truncated: {exc}") from exc
