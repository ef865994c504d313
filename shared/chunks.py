"""The chunk format: each chunk of the input compressed on its own with zstd.

Chunks are independent frames so that they upload, download and decompress
in parallel and in any order. A job whose data does not compress (a JPEG, a
zip) is stored raw, which ``compression = "none"`` records; the decision is
made once per job from a sample, so a fetcher never has to guess per chunk.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import zstandard

from shared.errors import IntegrityError

ZSTD = "zstd"
RAW = "none"
COMPRESSIONS = (ZSTD, RAW)
# A sample that zstd's fastest level cannot shrink below this ratio is
# treated as incompressible: compressing it again at a higher level wastes CPU.
INCOMPRESSIBLE_RATIO = 0.97
_COPY_BLOCK = 1024 * 1024
# The largest window a frame may ask the decoder to allocate: what zstd's own
# highest level (22) uses. A frame that claims more (or a huge content size in
# single-segment mode) is refused before any memory is taken.
MAX_WINDOW = 1 << 27


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def choose_compression(sample: bytes) -> str:
    if not sample:
        return ZSTD
    fast = zstandard.ZstdCompressor(level=1).compress(sample)
    return RAW if len(fast) > INCOMPRESSIBLE_RATIO * len(sample) else ZSTD


def compress_chunk(data: bytes, compression: str, level: int = 3) -> bytes:
    if compression == RAW:
        return data
    if compression == ZSTD:
        return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)
    raise ValueError(f"unknown compression {compression!r}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decompress_into(
    stored: bytes, compression: str, out: Writable, limit: int, *, job: str | None = None
) -> int:
    """Write a chunk's original bytes to ``out``; at most ``limit`` bytes.

    The limit is what is left of the job's declared size, so a chunk that
    expands beyond it (a decompression bomb or a lie about ``size``) is
    rejected after writing no more than the limit.
    """
    if limit < 0:
        raise IntegrityError("the chunks are larger than the file's declared size", job=job)
    if compression == RAW:
        if len(stored) > limit:
            raise IntegrityError("chunk is larger than the file's declared size", job=job)
        out.write(stored)
        return len(stored)
    if compression != ZSTD:
        raise IntegrityError(f"unknown compression {compression!r}", job=job)
    written = 0
    try:
        reader = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).stream_reader(
            stored, read_across_frames=True
        )
        with reader:
            while True:
                block = reader.read(_COPY_BLOCK)
                if not block:
                    break
                written += len(block)
                if written > limit:
                    raise IntegrityError(
                        "chunk decompresses beyond the file's declared size", job=job
                    )
                out.write(block)
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"chunk is not valid zstd data: {exc}", job=job) from exc
    return written
