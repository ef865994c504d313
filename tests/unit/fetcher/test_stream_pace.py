"""How often the stream's lease holder reads it: fast while the stream is busy,
at the slow pace (the old cost) once it has been quiet."""

from __future__ import annotations

from fetcher.hints import stream_pause


def test_a_busy_stream_is_read_fast() -> None:
    assert stream_pause(100.0, 99.0, slow=0.5, fast=0.1, busy=10.0) == 0.1
    assert stream_pause(109.9, 100.0, slow=0.5, fast=0.1, busy=10.0) == 0.1


def test_a_quiet_stream_is_read_at_the_slow_pace() -> None:
    assert stream_pause(110.0, 100.0, slow=0.5, fast=0.1, busy=10.0) == 0.5
    assert stream_pause(0.0, float("-inf"), slow=0.5, fast=0.1, busy=10.0) == 0.5  # never had any


def test_the_fast_pace_can_be_turned_off() -> None:
    assert stream_pause(100.0, 100.0, slow=0.5, fast=0.0, busy=10.0) == 0.5
    assert stream_pause(100.0, 100.0, slow=0.5, fast=0.8, busy=10.0) == 0.5  # never slower
