"""Result names under any original name, extension and folder content.

A result's name comes from a name another program chose: whatever it is,
``safe_name`` must give one component the file system takes (within the
byte limit, no separator, control, forbidden or reserved name), keep the
extension, and never reuse a name already in the folder. The last property
writes the file, so the real file system has the last word.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from client.names import FORBIDDEN, NAME_MAX_BYTES, RESERVED, name_limit, safe_name

# Any text a name can hold on some system, lone surrogates (undecodable bytes) included.
names = st.text(st.characters(codec=None), max_size=300) | st.sampled_from(
    ["CON", "nul.txt", "Com1.tar.gz", "lpt9", "a. ", "...", ".", "..", "x" * 255, "é" * 124]
)
extensions = st.sampled_from(
    [".result.json", ".result.txt", ".result.bin", ".reason.txt", "", ".md"]
) | st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10).map(
    lambda e: ".result." + e
)
limits = st.sampled_from([NAME_MAX_BYTES, 143, 64])


def assert_acceptable(name: str, limit: int) -> None:
    assert name
    assert len(name.encode("utf-8")) <= limit
    assert name not in (".", "..")
    assert not any(ord(c) < 32 or ord(c) == 127 or c in FORBIDDEN for c in name)
    assert not name.endswith((".", " "))
    assert name.split(".")[0].rstrip(" ").upper() not in RESERVED


@given(names, extensions, st.lists(names, max_size=8), limits)
def test_any_name_becomes_an_acceptable_unique_name_with_its_extension(
    original: str, extension: str, existing: list[str], limit: int
) -> None:
    taken = {safe_name(e, extension, (), limit) for e in existing} | set(existing)
    name = safe_name(original, extension, taken, limit)
    assert_acceptable(name, limit)
    assert name.endswith(extension)
    assert name.casefold() not in {t.casefold() for t in taken}


ordinary = st.from_regex(r"[A-Za-z0-9é][A-Za-z0-9é _().,-]{0,60}[A-Za-z0-9é)]", fullmatch=True)


@given(ordinary, extensions)
def test_an_ordinary_name_is_kept_as_it_is(original: str, extension: str) -> None:
    if original.split(".")[0].rstrip(" ").upper() in RESERVED:
        return
    assert safe_name(original, extension) == original + extension


@given(names, extensions, st.lists(names, max_size=5))
def test_the_path_is_a_new_file_inside_the_results_folder(
    original: str, extension: str, existing: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "results"
        folder.mkdir()
        for other in existing:
            other_path = folder / safe_name(other, extension, os.listdir(folder))
            other_path.write_bytes(b"earlier")
        before = set(os.listdir(folder))
        target = folder / safe_name(original, extension, before, name_limit(folder))
        assert target.parent == folder
        assert not target.exists()
        target.write_bytes(b"result")  # the file system accepts it
        assert set(os.listdir(folder)) == before | {target.name}
