"""How often a desktop polls for results: fast in the seconds after an upload,
every poll_seconds otherwise, at a bounded read rate with many jobs waiting."""

from __future__ import annotations

from client.results import (
    FAST_POLL_BYTES_PER_SECOND,
    POLL_RECORDS_PER_SECOND,
    Expected,
    base_interval,
    expected_by,
    poll_interval,
)
from shared.config import ClientSettings


def test_a_few_waiting_jobs_are_polled_at_the_configured_interval() -> None:
    assert poll_interval(0, 0.5) == 0.5
    assert poll_interval(100, 0.5) == 0.5


def test_a_large_backlog_is_polled_at_a_bounded_read_rate() -> None:
    for waiting in (1_000, 10_000, 100_000):
        interval = poll_interval(waiting, 0.5)
        assert waiting / interval == POLL_RECORDS_PER_SECOND
    assert poll_interval(1_000, 0.5) == 5.0


def test_results_are_polled_fast_only_while_a_job_is_expected_soon() -> None:
    uploaded = 1000.0
    until = expected_by(uploaded, 100_000, window=3.0)
    assert uploaded + 3.0 < until < uploaded + 3.1
    assert base_interval(uploaded, [until], slow=0.5, fast=0.1) == 0.1
    assert base_interval(until - 0.01, [until], slow=0.5, fast=0.1) == 0.1
    # Past its window (a long analysis), or with no recent job: the slow interval.
    assert base_interval(until, [until], slow=0.5, fast=0.1) == 0.5
    assert base_interval(uploaded, [], slow=0.5, fast=0.1) == 0.5
    # One recent job among old ones is enough.
    assert base_interval(uploaded, [uploaded - 60, until], slow=0.5, fast=0.1) == 0.1


def test_a_larger_file_is_expected_later() -> None:
    small = expected_by(0.0, 1024, window=3.0)
    large = expected_by(0.0, 100 * 1024 * 1024, window=3.0)
    assert large - small == (100 * 1024 * 1024 - 1024) / FAST_POLL_BYTES_PER_SECOND
    assert large == 13.0


def test_fast_polling_can_be_turned_off() -> None:
    assert base_interval(0.0, [10.0], slow=0.5, fast=0.0) == 0.5
    assert base_interval(0.0, [10.0], slow=0.2, fast=0.5) == 0.2  # never slower than slow


def test_a_large_backlog_keeps_its_bounded_rate_even_when_fast() -> None:
    fast = base_interval(0.0, [10.0], slow=0.5, fast=0.1)
    assert poll_interval(1_000, fast) == 5.0
    assert poll_interval(10, fast) == 0.1


def test_the_engines_pace_follows_its_uploads_and_their_ends() -> None:
    now = [100.0]
    settings = ClientSettings()
    settings.poll_seconds, settings.fast_poll_seconds = 0.5, 0.1
    settings.fast_poll_window_seconds = 3.0
    expected = Expected(lambda: now[0], settings)
    assert expected.interval() == 0.5
    expected.uploaded("file-a", 1000)
    expected.uploaded("file-b", 1000)
    assert expected.interval() == 0.1
    assert expected.interval(only="file-c") == 0.5
    expected.forget(["file-a"])
    assert expected.interval(only="file-a") == 0.5 and expected.interval() == 0.1
    now[0] += 10  # past file-b's window: forgotten at the next look
    expected.forget([])
    assert expected.interval() == 0.5
    settings.fast_poll_seconds = 0.0  # retuned while running: off
    expected.uploaded("file-d", 1000)
    assert expected.interval() == 0.5
