"""How often a desktop polls for results: often with a few jobs waiting, at a
bounded read rate with many."""

from __future__ import annotations

from client.results import POLL_RECORDS_PER_SECOND, poll_interval


def test_a_few_waiting_jobs_are_polled_at_the_configured_interval() -> None:
    assert poll_interval(0, 0.5) == 0.5
    assert poll_interval(100, 0.5) == 0.5


def test_a_large_backlog_is_polled_at_a_bounded_read_rate() -> None:
    for waiting in (1_000, 10_000, 100_000):
        interval = poll_interval(waiting, 0.5)
        assert waiting / interval == POLL_RECORDS_PER_SECOND
    assert poll_interval(1_000, 0.5) == 5.0
