"""Test data with a stated mix, generated from a seed so every run sends the same bytes.

The mixed file is built from 4 MiB groups: 2 MiB of text-like data, 1 MiB of
random bytes (what photographs and archives look like to a compressor) and
1 MiB of zeros (padding, blank scans). The text is words drawn from a Zipf
law over an 8,000-word vocabulary, cut from a 16 MiB pool at random offsets:
two text blocks of one file are never within zstd's 2 MiB window of each
other at level 3, so the pool does not flatter the compression ratio. The
file starts with text, so the client's one-MiB sample chooses zstd.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

MiB = 1024 * 1024
_POOL_BYTES = 16 * MiB
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"


def _text_pool(seed: int) -> bytes:
    rng = random.Random(seed)
    weights = list(range(len(_LETTERS), 0, -1))
    words = [
        "".join(rng.choices(_LETTERS, weights=weights, k=rng.randint(2, 10))).encode()
        for _ in range(8000)
    ]
    draws = np.random.default_rng(seed)
    out = bytearray()
    while len(out) < _POOL_BYTES:
        indices = draws.zipf(1.3, 20_000) % len(words)
        out += b" ".join(words[int(i)] for i in indices)
        out += b"\n"
    return bytes(out[:_POOL_BYTES])


class Text:
    """Slices of generated text, as many as wanted, reproducible from the seed."""

    def __init__(self, seed: int = 1) -> None:
        self.pool = _text_pool(seed)
        self.rng = random.Random(seed)

    def block(self, size: int) -> bytes:
        start = self.rng.randrange(0, len(self.pool) - size)
        return self.pool[start : start + size]


def write_mixed(path: Path, mib: int, seed: int = 1) -> None:
    """``mib`` MiB (a multiple of 4) of the mix described above."""
    text = Text(seed)
    rng = random.Random(seed)
    with path.open("wb") as fh:
        for _ in range(max(1, mib // 4)):
            fh.write(text.block(2 * MiB))
            fh.write(rng.randbytes(MiB))
            fh.write(bytes(MiB))


def write_random(path: Path, mib: int) -> None:
    """Incompressible data: the client stores it raw."""
    with path.open("wb") as fh:
        for _ in range(mib):
            fh.write(os.urandom(MiB))


def mixed_ratio_note() -> str:
    return "4 MiB groups of 2 MiB Zipf-distributed text, 1 MiB random, 1 MiB zeros"
