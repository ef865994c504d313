"""Chunk decoding under random, corrupted and hostile stored bytes.

A stored chunk is checked against its signed hash before it is decoded, but
the decoder is the first thing that meets a signed-but-hostile chunk (a
registered client gone rogue): whatever the bytes, it writes at most the
declared size and fails with ``IntegrityError``, quickly and in bounded memory.
"""

from __future__ import annotations

import io
import struct
import time

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from shared import chunks
from shared.errors import IntegrityError

MAGIC = b"\x28\xb5\x2f\xfd"


class Counting:
    """A sink that counts what it is given and keeps nothing."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        return len(data)


def decoded_or_refused(stored: bytes, compression: str, limit: int) -> int | None:
    sink = Counting()
    try:
        n = chunks.decompress_into(stored, compression, sink, limit, job="file-x")
    except IntegrityError as exc:
        assert exc.job == "file-x"
        assert sink.written <= max(limit, 0)
        return None
    assert n == sink.written <= limit
    return n


@given(st.binary(max_size=65536), st.sampled_from(chunks.COMPRESSIONS), st.integers(1, 19))
def test_every_chunk_decodes_to_its_original_bytes(
    data: bytes, compression: str, level: int
) -> None:
    stored = chunks.compress_chunk(data, compression, level)
    out = io.BytesIO()
    assert chunks.decompress_into(stored, compression, out, len(data)) == len(data)
    assert out.getvalue() == data


@given(st.binary(min_size=1, max_size=4096), st.integers(0, 4095))
def test_a_chunk_larger_than_the_declared_size_is_refused(data: bytes, limit: int) -> None:
    for compression in chunks.COMPRESSIONS:
        stored = chunks.compress_chunk(data, compression)
        result = decoded_or_refused(stored, compression, limit)
        assert (result is None) == (len(data) > limit)


@given(st.binary(max_size=512), st.integers(-10, 10**6), st.sampled_from(chunks.COMPRESSIONS))
def test_random_stored_bytes_decode_within_the_limit_or_are_refused(
    stored: bytes, limit: int, compression: str
) -> None:
    decoded_or_refused(stored, compression, limit)


@given(st.binary(max_size=512), st.integers(0, 10**6))
def test_random_bytes_behind_a_zstd_magic_number_are_refused_or_bounded(
    tail: bytes, limit: int
) -> None:
    decoded_or_refused(MAGIC + tail, chunks.ZSTD, limit)


@given(st.binary(min_size=1, max_size=4096), st.data())
def test_a_corrupted_frame_decodes_within_the_limit_or_is_refused(
    data: bytes, draw: st.DataObject
) -> None:
    stored = bytearray(chunks.compress_chunk(data, chunks.ZSTD))
    at = draw.draw(st.integers(0, len(stored) - 1), label="byte")
    stored[at] ^= draw.draw(st.integers(1, 255), label="xor")
    cut = draw.draw(st.integers(0, len(stored)), label="length")
    decoded_or_refused(bytes(stored[:cut]), chunks.ZSTD, len(data))


@given(st.text(max_size=10))
def test_an_unknown_compression_is_refused(name: str) -> None:
    if name in chunks.COMPRESSIONS:
        return
    with pytest.raises(IntegrityError, match="unknown compression"):
        chunks.decompress_into(b"x", name, Counting(), 10)


def frame_claiming(content_size: int) -> bytes:
    """A single-segment frame whose header claims ``content_size`` bytes, holding three."""
    descriptor = bytes([0b1110_0000])  # 8-byte content size, single segment
    raw_last_block = bytes([(3 << 3) | 1, 0, 0]) + b"abc"
    return MAGIC + descriptor + struct.pack("<Q", content_size) + raw_last_block


def frame_with_window(log: int) -> bytes:
    """A frame that asks for a 2**log byte window, holding three bytes."""
    return MAGIC + b"\x00" + bytes([(log - 10) << 3]) + bytes([(3 << 3) | 1, 0, 0]) + b"abc"


@pytest.mark.parametrize("claimed", [2**31, 2**40, 2**60])
def test_a_frame_that_claims_a_huge_content_size_is_refused_at_once(claimed: int) -> None:
    started = time.monotonic()
    with pytest.raises(IntegrityError, match="too much memory"):
        chunks.decompress_into(frame_claiming(claimed), chunks.ZSTD, Counting(), 2**62)
    assert time.monotonic() - started < 1.0


def test_a_frame_that_asks_for_a_window_beyond_the_limit_is_refused() -> None:
    largest = chunks.MAX_WINDOW.bit_length() - 1
    assert decoded_or_refused(frame_with_window(largest), chunks.ZSTD, 10) == 3
    with pytest.raises(IntegrityError, match="too much memory"):
        chunks.decompress_into(frame_with_window(largest + 1), chunks.ZSTD, Counting(), 10)


def test_a_decompression_bomb_stops_at_the_declared_size() -> None:
    """256 MiB of zeros in a frame of a few kilobytes, declared as one megabyte."""
    squeeze = zstandard.ZstdCompressor(level=19).compressobj()
    zeros = bytes(1024 * 1024)
    bomb = b"".join(squeeze.compress(zeros) for _ in range(256)) + squeeze.flush()
    assert len(bomb) < 64 * 1024
    sink = Counting()
    started = time.monotonic()
    with pytest.raises(IntegrityError, match="beyond the file's declared size"):
        chunks.decompress_into(bomb, chunks.ZSTD, sink, 1024 * 1024)
    assert sink.written <= 1024 * 1024
    assert time.monotonic() - started < 2.0
