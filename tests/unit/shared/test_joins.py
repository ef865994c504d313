"""Join requests' pure rules: expiry, the administrator's capped listing, and
what a request item may carry."""

from __future__ import annotations

import dataclasses

from shared.joins import (
    LISTED_PER_SITE,
    JoinRequest,
    JoinState,
    from_item,
    listed,
    state_at,
    to_item,
)


def request(site: str = "AIDASITE", client: str = "client-04aa", n: int = 0) -> JoinRequest:
    return JoinRequest(
        site=site,
        client=f"{client}{n}",
        computer="lab-pc",
        user="ana",
        requested=f"2026-01-01T00:00:{n % 60:02d}+00:00",
        expires=1_000,
    )


def test_a_pending_request_expires_at_its_time_and_a_decision_stands() -> None:
    pending = request()
    assert state_at(pending, 999) is JoinState.PENDING
    assert state_at(pending, 1_000) is JoinState.EXPIRED
    rejected = dataclasses.replace(pending, state=JoinState.REJECTED)
    assert state_at(rejected, 5_000) is JoinState.REJECTED


def test_the_listing_shows_a_capped_number_per_site_so_a_flood_hides_no_other_site() -> None:
    flood = [request("AIDAFLOOD", n=n) for n in range(LISTED_PER_SITE * 5)]
    quiet = request("AIDAQUIET")
    shown, hidden = listed([*flood, quiet], now=0)
    assert quiet in shown
    assert sum(1 for r in shown if r.site == "AIDAFLOOD") == LISTED_PER_SITE
    assert hidden == LISTED_PER_SITE * 4
    assert listed([quiet], now=2_000) == ([], 0)  # expired: not waiting


def test_a_desktop_writes_no_decision_and_names_are_cut_and_printable() -> None:
    item = to_item(dataclasses.replace(request(), computer="pc\x1b[31m" + "x" * 200))
    assert "state" not in item and "reason" not in item
    back = from_item(item)
    assert "\x1b" not in back.computer and len(back.computer) <= 64
    assert from_item({**item, "state": {"S": "bogus"}}).state is JoinState.REJECTED
    assert request().id == request().id != request(n=1).id
