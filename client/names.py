"""Names the agent gives the files it writes: results, and originals it retires.

A result is named after its original (``scan.png`` -> ``scan.png.result.json``),
but the original's name came from another program, maybe another system: it
can be as long as the file system allows (so the added extension overflows
it), hold characters or names another system refuses (Windows: ``<>:"/\\|?*``,
``CON``, ``NUL``, ``COM1``, trailing dots and spaces), or control characters.
``safe_name`` is the one rule, pure, so it is tested on any name without a disk.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Collection
from pathlib import Path

NAME_MAX_BYTES = 255
"""The longest path component (UTF-8 bytes) on the common file systems (ext4,
APFS, NTFS in UTF-16 units, which a 255-byte UTF-8 name never exceeds)."""
FORBIDDEN = frozenset('<>:"/\\|?*')
"""Characters Windows refuses in a name (``/`` everywhere)."""
RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"{d}{n}" for d in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")}
)
"""Device names Windows refuses as a name's stem, whatever the extension."""
SUFFIX_BYTES = 16
"""The longest suffix of an original kept apart from its stem when made unique."""
_TRAILING = re.compile(r"[. ]+$")


def _clean(text: str) -> str:
    """``text`` with control, forbidden and unpaired-surrogate characters replaced."""
    return "".join(
        "_" if ord(c) < 32 or ord(c) == 127 or c in FORBIDDEN or 0xD800 <= ord(c) <= 0xDFFF else c
        for c in unicodedata.normalize("NFC", text)
    )


def _cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-8 bytes (whole characters)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: max(0, limit)].decode("utf-8", "ignore")


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def safe_name(
    original: str,
    extension: str,
    taken: Callable[[str], bool] | Collection[str] = (),
    limit: int = NAME_MAX_BYTES,
) -> str:
    """A name for ``original`` + ``extension`` that every common file system accepts.

    Control and forbidden characters become ``_``; a reserved device stem gets a
    leading ``_``; trailing dots and spaces are dropped; the original part is cut
    (at a character boundary) so the whole stays within ``limit`` bytes with the
    extension kept; `` (2)``, `` (3)``... is added before the original's own suffix
    until the name is not ``taken`` (compared without case, as on Windows and macOS).
    """
    is_taken = taken if callable(taken) else _membership(taken)
    ext = _cut(_TRAILING.sub("", _clean(extension)), limit // 2)
    base = _clean(original) or "_"
    if base.split(".")[0].rstrip(" ").upper() in RESERVED:
        base = "_" + base
    dot = base.rfind(".")
    if 0 < dot and _nbytes(base[dot:]) <= SUFFIX_BYTES:
        stem, suffix = base[:dot], base[dot:]
    else:
        stem, suffix = base, ""
    n = 1
    while True:
        tag = "" if n == 1 else f" ({n})"
        room = limit - _nbytes(ext) - _nbytes(tag)
        if _nbytes(suffix) > room // 2:
            stem, suffix = stem + suffix, ""
        core = _cut(stem, room - _nbytes(suffix)) + tag + suffix
        if not ext:
            core = _TRAILING.sub("", core)
        if core in ("", ".", ".."):
            core = "_"
        name = core + ext
        if not is_taken(name):
            return name
        n += 1


def _membership(names: Collection[str]) -> Callable[[str], bool]:
    folded = {name.casefold() for name in names}
    return lambda name: name.casefold() in folded


def name_limit(folder: Path) -> int:
    """The longest name ``folder``'s file system takes, in bytes (255 where unknown)."""
    try:
        return max(16, min(NAME_MAX_BYTES, os.pathconf(folder, "PC_NAME_MAX")))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX_BYTES


def free_in(folder: Path) -> Callable[[str], bool]:
    """``taken`` for ``safe_name``: names already in ``folder``, without case."""
    try:
        present = {p.name.casefold() for p in folder.iterdir()}
    except FileNotFoundError:
        present = set()
    return lambda name: name.casefold() in present
