"""How a fetcher spaces its reads of the queue index and spreads its claims (pure).

Kept apart from the loop in ``fetcher.worker`` so that the fleet model
(``python -m bench scale``) runs the very same rules.
"""

from __future__ import annotations

import math

CLAIM_SPREAD = 4
"""Fewest candidates a fetcher picks among: fetchers that read the index
together would otherwise all race for the same job, every loser spending a
write and a round trip. Rank order stays fair to within this many jobs."""


def claim_spread(fleet: int, configured: int = 0) -> int:
    """How many of the first candidates, in rank order, a fetcher picks among.

    ``configured`` (``fetcher.claim_spread``) wins when set; 0 scales with the
    fleet (``fetcher.fleet_size``): one candidate per ten fetchers, never fewer
    than ``CLAIM_SPREAD``. A large fleet claims so many jobs within the index's
    lag (a claimed job shows there for a fraction of a second more) that the
    first few candidates of every read are already taken.
    """
    if configured > 0:
        return configured
    return max(CLAIM_SPREAD, math.ceil(max(1, fleet) / 10))


def give_up_after(taken: int, limit: int) -> bool:
    """Whether a fetcher drops the rest of its last read of the index after finding
    ``taken`` candidates in a row already claimed by others.

    In a large fleet, idle fetchers that read a short queue find its head taken
    by the time they try it (the index shows a claimed job for a fraction of a
    second more), and trying every candidate costs one GetItem each, all
    wasted. ``limit`` 0 tries them all.
    """
    return limit > 0 and taken >= limit
