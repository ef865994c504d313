"""Sample files the tests generate: real formats, made here, nothing downloaded."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

from PIL import Image, ImageDraw


def make_png(path: Path, text: str | None = None, size: tuple[int, int] = (64, 48)) -> Path:
    image = Image.new("RGB", size, (240, 240, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, size[0] // 2, size[1] // 2), fill=(200, 30, 30))
    if text:
        draw.text((6, size[1] // 2), text, fill=(0, 0, 0))
    image.save(path, "PNG")
    return path


def make_jpeg_with_exif(path: Path) -> Path:
    image = Image.new("RGB", (80, 60), (20, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "Acme"  # Make
    exif[0x0110] = "Lab Camera 2"  # Model
    exif[0x0132] = "2026:11:01 09:30:00"  # DateTime
    exif.get_ifd(0x8769)[0x9003] = "2026:11:01 09:29:58"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.6)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.2)
    image.save(path, "JPEG", exif=exif)
    return path


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[str], title: str = "Sample report") -> bytes:
    """A small valid PDF with a real text layer on each page (Helvetica, one Tj per line)."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        lines = text.split("\n")
        ops = ["BT", "/F1 14 Tf", "72 720 Td", "16 TL"]
        for line in lines:
            ops.append(f"({_pdf_escape(line)}) Tj T*")
        ops.append("ET")
        stream = zlib.compress("\n".join(ops).encode("latin-1"))
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            f" /Resources << /Font << /F1 3 0 R >> >> /Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objects.append(
            f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
            + stream
            + b"\nendstream"
        )
    info_id = len(objects) + 1
    objects.append(f"<< /Title ({_pdf_escape(title)}) /Author (fpw tests) >>".encode())
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def make_pdf(path: Path, pages: list[str], title: str = "Sample report") -> Path:
    path.write_bytes(pdf_bytes(pages, title))
    return path


def make_encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(["secret page"]))))
    writer.encrypt("a password")
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def make_bomb_png(path: Path, side: int = 9_000) -> Path:
    """A tiny PNG that declares side x side pixels (81 million by default)."""
    image = Image.new("1", (side, side), 0)
    image.save(path, "PNG", optimize=True)
    return path
