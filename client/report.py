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

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client import sections
from client.markup import as_dict, as_list, esc, facts_table, generic, preformatted, text_of

# Re-exported: the viewer draws pictures and boxes with what the page is built from.
from client.picture import Picture as Picture
from client.picture import find_picture as find_picture
from client.picture import ocr_lines as ocr_lines

if TYPE_CHECKING:
    from client.agent import Agent
    from client.tracker import JobView

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 200_000
"""Characters of extracted text shown in one page; the raw result keeps the rest."""
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


def load(data: bytes) -> Any | None:
    """The result's JSON, or None when it is not JSON."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


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
        table = facts_table(list(sections.facts(result)))
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
            return sections.image(result, picture, standalone)
        if kind == "pdf":
            return sections.pdf(a, limit)
        return sections.csv(a)

    return [
        lambda: sections.summary(a),
        notes,
        key_facts,
        lambda: sections.metadata(a),
        lambda: sections.headings(a),
        by_kind,
        lambda: sections.top_words(a),
        text,
        lambda: _others(top, a),
    ]


def render(
    result: Any, *, name: str, picture: Picture | None = None, standalone: bool = True
) -> str:
    """A whole HTML page: self-contained and printable when ``standalone``.

    Without ``standalone`` (the tray app's viewer, whose widget shows a subset
    of HTML) the picture is left to the viewer's own Picture tab.
    """
    inner = _body(result, name, picture, standalone)
    head = f"<title>{esc(name)}</title><style>{STYLE}</style>"
    if standalone:
        head = (
            '<meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">' + head
        )
        return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>{inner}</body></html>\n'
    return f"<html><head>{head}</head><body>{inner}</body></html>"


def _body(result: Any, name: str, picture: Picture | None, standalone: bool) -> str:
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
    for section in _sections(result, picture, standalone, MAX_TEXT_CHARS):
        try:
            out.append(section())
        except Exception:  # an odd shape must not hide the rest of the result
            log.exception("a part of the result could not be shown")
            out.append(
                '<p class="warn">A part of this result could not be shown; see the raw result.</p>'
            )
    return "".join(out)


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
        done = view.phase is Phase.DONE and view.stage == "done"
        if not done or path is None or path.suffix.lower() != ".json":
            return
        try:
            target = write_report(path, originals(agent, view))
        except (OSError, ValueError) as exc:
            log.warning("%s: the HTML report could not be written: %s", view.name, exc)
            return
        if target is not None:
            log.info("%s: report saved to %s", view.name, target)

    agent.add_listener(on_view)
