"""What the reference processor does with one file: choose the analyses, wrap the result.

Each analysis takes a path (the file is on disk, never read whole into
memory when it need not be) and returns a JSON-ready dict, or raises an
``AnalysisError`` whose status tells the fetcher whether to give up. The
kind of file comes from its first bytes, not from its declared type.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from processor import __version__
from processor.documents import DOCX, analyze_docx, analyze_text, is_docx
from processor.errors import BadParams, Unreadable, Unsupported
from processor.images import MAX_IMAGE_PIXELS, analyze_image
from processor.llm import (
    DEFAULT_PROMPT,
    MAX_PROMPT_CHARS,
    LlmConfig,
    ask,
    check_prompt,
    image_data_url,
)
from processor.pdfs import MAX_PARTS, analyze_pdf, parse_ranges

__all__ = ["MAX_IMAGE_PIXELS", "PROFILES", "analyze", "catalog", "check_params", "sniff"]

PROFILES = {
    "default": "everything local: metadata, text (OCR where there is no text layer), summary",
    "metadata": "metadata only: no text, no OCR, no summary",
    "ocr": "as default, and OCR of every PDF page even where it has a text layer",
    "summary": "as default, but the summary and counts instead of the full text",
    "llm": "as default, plus a language model's answer to params.prompt (when configured)",
}
"""The profiles a job may name in ``params.profile``, and what each does."""
SPLIT: dict[str, Any] = {
    "type": "array",
    "description": (
        f"PDFs only: page ranges such as 1-2, 3-, 5 or -4; each becomes a part of its own"
        f" (at most {MAX_PARTS})"
    ),
}
PROFILE_PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {"split": SPLIT},
    "metadata": {},
    "ocr": {"split": SPLIT},
    "summary": {"split": SPLIT},
    "llm": {
        "prompt": {
            "type": "string",
            "default": DEFAULT_PROMPT,
            "description": f"what to ask the language model about the file (at most"
            f" {MAX_PROMPT_CHARS:,} characters)",
        },
        "split": SPLIT,
    },
}
"""The params each profile reads, JSON-schema-like (``GET /profiles``)."""


def catalog(llm: bool) -> dict[str, Any]:
    """The ``GET /profiles`` answer: the profiles served (``llm`` only with a model)."""
    return {
        "processor": "fpw-reference",
        "version": __version__,
        "profiles": [
            {"name": name, "description": text, "params": PROFILE_PARAMS[name]}
            for name, text in PROFILES.items()
            if name != "llm" or llm
        ],
    }


IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"II*\x00": "image/tiff",
    b"MM\x00*": "image/tiff",
    b"BM": "image/bmp",
}


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
    if head.startswith(b"PK\x03\x04"):
        if is_docx(path):
            return "text", DOCX
        if base == DOCX or b"word/" in head:
            raise Unreadable("the file looks like a Word document but is not a readable one")
    elif base.startswith("image/") or base in ("application/pdf", DOCX):
        raise Unreadable(f"the file is declared as {base} but is not a readable {base} file")
    if b"\x00" not in head and not head.startswith(b"PK\x03\x04"):
        return "text", base if base.startswith("text/") else "text/plain"
    raise Unsupported(
        f"cannot analyse {base or 'this file'}: supported are images, PDFs, text, CSV,"
        " Markdown and Word (.docx) documents"
    )


def check_params(params: dict[str, Any]) -> str:
    """The profile, once every param the job gave is known to be usable."""
    profile = params.get("profile") or "default"  # null or "" as in a blank folder setting
    if not isinstance(profile, str) or profile not in PROFILES:
        raise BadParams(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    if params.get("split") is not None:
        parse_ranges(params["split"])
    if profile == "llm" or "prompt" in params:
        check_prompt(params)
    return profile


def _llm(
    kind: str, path: Path, analysis: dict[str, Any], config: LlmConfig, prompt: str
) -> dict[str, Any]:
    if kind == "image":
        from PIL import Image

        with Image.open(path) as image:
            url = image_data_url(image)
        return ask(config, prompt, image_url=url)
    if kind == "pdf":
        text = "\n".join(str(p.get("text", "")) for p in analysis.get("text_pages", []))
    else:
        text = str(analysis.get("text", ""))
    return ask(config, prompt, text=text)


def analyze(
    path: Path,
    content_type: str,
    params: dict[str, Any],
    job: str,
    *,
    llm: LlmConfig | None = None,
) -> dict[str, Any]:
    """The whole result document for one file."""
    started = time.monotonic()
    profile = check_params(params)
    if profile == "llm" and llm is None:
        raise BadParams(
            "the llm profile needs a language model, and this processor has none configured"
            " (FPW_PROCESSOR_LLM_URL)"
        )
    kind, ctype = sniff(path, content_type)
    everything = profile != "metadata"
    keep_text = everything and profile != "summary"
    if kind == "image":
        analysis = analyze_image(path, details=everything, run_ocr=everything)
    elif kind == "pdf":
        analysis = analyze_pdf(
            path,
            text=everything,
            ocr_mode="all" if profile == "ocr" else "missing",
            summary=everything,
            keep_text=keep_text,
            split=params.get("split"),
        )
    elif ctype == DOCX:
        analysis = analyze_docx(path, keep_text=keep_text, summary=everything)
    else:
        analysis = analyze_text(path, ctype, keep_text=keep_text, summary=everything)
    if profile == "llm" and llm is not None:
        analysis["llm"] = _llm(kind, path, analysis, llm, check_prompt(params))
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
    result: dict[str, Any] = {
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
    if params.get("split") is not None and kind != "pdf":
        result["notes"] = ["split applies to PDFs only; this file was not split"]
    return result
