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


def make_text_image(
    path: Path, lines: list[str], size: tuple[int, int] = (720, 200), font_size: int = 40
) -> Path:
    """Black text on white in Pillow's bundled scalable font, for OCR to read back."""
    from PIL import ImageFont

    font = ImageFont.load_default(size=font_size)
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((24, 20 + number * int(font_size * 1.6)), line, font=font, fill=(0, 0, 0))
    image.save(path)
    return path


def make_scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages are pictures of text, with no text layer (like a scanner's)."""
    from PIL import ImageFont

    font = ImageFont.load_default(size=36)
    images = []
    for lines in pages:
        image = Image.new("RGB", (850, 1100), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        for number, line in enumerate(lines):
            draw.text((80, 100 + number * 60), line, font=font, fill=(0, 0, 0))
        images.append(image)
    images[0].save(path, "PDF", resolution=100, save_all=True, append_images=images[1:])
    return path


def docx_bytes(
    paragraphs: list[str], heading: str | None = None, title: str = "Sample document"
) -> bytes:
    """A minimal .docx: the package parts, a body with paragraphs, and core properties."""
    import zipfile
    from xml.sax.saxutils import escape

    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = ""
    if heading:
        body += (
            '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr>'
            f"<w:r><w:t>{escape(heading)}</w:t></w:r></w:p>"
        )
    for text in paragraphs:
        body += f'<w:p><w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>'
    )
    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>fpw tests</dc:creator>"
        "</cp:coreProperties>"
    )
    types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("word/document.xml", document)
        archive.writestr("docProps/core.xml", core)
    return out.getvalue()


def make_docx(
    path: Path, paragraphs: list[str], heading: str | None = None, title: str = "Sample document"
) -> Path:
    path.write_bytes(docx_bytes(paragraphs, heading, title))
    return path


def make_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
