"""How many candidates a fetcher picks among, and when it drops a read others emptied."""

from __future__ import annotations

from fetcher.polling import CLAIM_SPREAD, claim_spread, give_up_after


def test_the_claim_spread_grows_with_the_fleet_and_never_falls_below_the_minimum() -> None:
    assert claim_spread(1) == claim_spread(40) == CLAIM_SPREAD
    assert claim_spread(100) == 10
    assert claim_spread(1000) == 100
    assert claim_spread(0) == CLAIM_SPREAD


def test_a_configured_spread_wins_over_the_fleet_size() -> None:
    assert claim_spread(1000, configured=4) == 4
    assert claim_spread(1, configured=25) == 25


def test_a_read_is_dropped_after_the_configured_number_of_taken_candidates_only() -> None:
    assert not give_up_after(7, 8)
    assert give_up_after(8, 8)
    assert not give_up_after(10_000, 0)  # 0: every candidate is tried
