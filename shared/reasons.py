"""Text that another party wrote, made safe to store in a record and to show.

Reasons come from processors, records and remote services: any of them may be
huge, or carry newlines and terminal escape sequences that would forge log
lines or repaint a desktop's terminal. Every reason written to a job record
passes through ``clean_reason``; parts that log or display a remote error
should use it too.
"""

from __future__ import annotations

import re
import unicodedata

MAX_REASON_BYTES = 1024
"""Most UTF-8 bytes of a stored reason (a record's item limit is 400 KB)."""
_SCAN_CHARS = MAX_REASON_BYTES * 8
"""Characters looked at: the rest could never survive the cut, so it is not scanned."""
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and two-character escapes;
# the 8-bit CSI introduced by U+009B too.
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
)
_SPACES = re.compile(r"\s+")
_ELLIPSIS = "…"


def _visible(char: str) -> str:
    """The character, a space for a control or separator, or '?' for what cannot be encoded."""
    category = unicodedata.category(char)
    if category in ("Cc", "Zl", "Zp"):
        return " "
    if category == "Cs":
        return "?"  # a lone surrogate: not valid UTF-8, DynamoDB would refuse it
    if category == "Cf" and char not in "\u200c\u200d":  # keep joiners (scripts, emoji)
        return ""  # bidirectional overrides and other invisible formatting
    return char


def clean_reason(text: object, limit: int = MAX_REASON_BYTES) -> str:
    """``text`` on one line, without control characters or escape sequences, at most
    ``limit`` UTF-8 bytes (cut with an ellipsis).

    Pure and cheap whatever the input's size: only the first few KB are read.
    """
    raw = str(text)
    cut = len(raw) > _SCAN_CHARS
    raw = _ESCAPE.sub("", raw[:_SCAN_CHARS])
    line = _SPACES.sub(" ", "".join(_visible(c) for c in raw)).strip()
    data = line.encode("utf-8")
    if not cut and len(data) <= limit:
        return line
    room = max(0, limit - len(_ELLIPSIS.encode("utf-8")))
    return data[:room].decode("utf-8", errors="ignore").rstrip() + _ELLIPSIS
