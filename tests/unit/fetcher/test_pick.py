"""Which queued job a fetcher tries next."""

from __future__ import annotations

from fetcher.claims import pick
from fetcher.polling import CLAIM_SPREAD


def test_a_fetcher_tries_one_of_the_first_few_candidates_and_each_of_them() -> None:
    seen = {pick(100) for _ in range(2000)}
    assert seen == set(range(CLAIM_SPREAD))


def test_a_short_backlog_is_picked_from_within_itself() -> None:
    assert {pick(1) for _ in range(100)} == {0}
    assert {pick(2) for _ in range(500)} == {0, 1}
