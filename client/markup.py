"""Safe HTML from untrusted JSON values: every value escaped, every type checked,
every size bounded. The pieces ``client.report`` builds its pages from.
"""

from __future__ import annotations

import html
import math
from collections.abc import Collection
from typing import Any

MAX_ITEMS = 200
"""Items of one list (lines, pages, rows, fields) shown; the rest are counted."""
MAX_DEPTH = 6
"""Nesting shown by the generic renderer; deeper values are summarised."""
MAX_VALUE_CHARS = 2_000
"""Characters of one value shown by the generic renderer."""
MAX_VALUES = 3_000
"""Values the generic renderer shows in all; the raw result has the rest."""


def esc(value: object) -> str:
    """Any value as text safe in an element and in a quoted attribute."""
    return html.escape(str(value), quote=True)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else an empty one: a missing part reads as empty."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def finite(value: Any) -> float | None:
    """A finite number, or None (JSON from Python may hold NaN and Infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return result if math.isfinite(result) else None


def whole(value: Any) -> str | None:
    """A count as people write it (``12,345``), or None."""
    number = finite(value)
    return None if number is None else f"{number:,.0f}"


def text_of(value: Any) -> str | None:
    """A scalar as trimmed text, or None when empty or not a scalar."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def human_size(size: Any) -> str | None:
    """Bytes in the unit a person reads (``2.0 KB``)."""
    number = finite(size)
    if number is None:
        return None
    for unit in ("bytes", "KB", "MB", "GB"):
        if number < 1024 or unit == "GB":
            return f"{number:.0f} {unit}" if unit == "bytes" else f"{number:.1f} {unit}"
        number /= 1024
    return None


def clip(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to ``limit`` characters, and how many were left out."""
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def facts_table(rows: list[tuple[str, str | None]]) -> str:
    """A two-column table of the rows that have a value."""
    shown = [(k, v) for k, v in rows if v]
    if not shown:
        return ""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in shown)
    return f'<table class="facts">{body}</table>'


def grid(header: list[str], rows: list[list[Any]], numeric: Collection[int] = ()) -> str:
    """A table with a header; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows[:MAX_ITEMS]:
        cells = "".join(
            f'<td class="num">{esc(c)}</td>' if i in numeric else f"<td>{esc(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more_note(len(rows))}"


def more_note(total: int, shown: int = MAX_ITEMS, what: str = "more") -> str:
    """What a cut list left out, pointing to the raw result."""
    if total <= shown:
        return ""
    return f'<p class="note">… and {total - shown:,} {what} (see the raw result).</p>'


def preformatted(text: str, limit: int) -> str:
    """Text as it is (line breaks kept), cut at ``limit`` with a note saying how much more."""
    shown, left = clip(text, limit)
    note = (
        f'<p class="note">The text goes on for {left:,} more characters;'
        " the raw result has all of it.</p>"
        if left
        else ""
    )
    return f"<pre>{esc(shown)}</pre>{note}"


def generic(value: Any, depth: int = 0, budget: list[int] | None = None) -> str:
    """Any JSON value as nested tables and lists, bounded in depth, items, characters
    and in values shown altogether (``MAX_VALUES``: wide and deep at once stays small)."""
    budget = [MAX_VALUES] if budget is None else budget
    if budget[0] <= 0:
        return '<span class="note">…</span>'
    budget[0] -= 1
    if depth >= MAX_DEPTH:
        return f'<span class="note">{esc(shape(value))}</span>'
    if isinstance(value, dict):
        if not value:
            return '<span class="note">(empty)</span>'
        rows = [
            f"<tr><th>{esc(clip(str(k), 200)[0])}</th><td>{generic(v, depth + 1, budget)}</td></tr>"
            for k, v in list(value.items())[:MAX_ITEMS]
        ]
        return f"<table>{''.join(rows)}</table>{more_note(len(value), what='more fields')}"
    if isinstance(value, list):
        if not value:
            return '<span class="note">(none)</span>'
        if all(not isinstance(v, dict | list) for v in value):
            shown = ", ".join(clip(str(v), MAX_VALUE_CHARS)[0] for v in value[:MAX_ITEMS])
            return esc(clip(shown, MAX_VALUE_CHARS)[0]) + more_note(len(value))
        items = "".join(f"<li>{generic(v, depth + 1, budget)}</li>" for v in value[:MAX_ITEMS])
        return f"<ol>{items}</ol>{more_note(len(value))}"
    if value is None:
        return '<span class="note">none</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if "\n" in text or len(text) > 200:
        return preformatted(text, MAX_VALUE_CHARS)
    return esc(text)


def shape(value: Any) -> str:
    if isinstance(value, dict):
        return f"({len(value)} fields)"
    if isinstance(value, list):
        return f"({len(value)} items)"
    return clip(str(value), 200)[0]
