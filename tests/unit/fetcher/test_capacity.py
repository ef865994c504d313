"""The capacity a container declares in ``GET /health`` is taken only within bounds:
a broken or hostile container cannot make its fetcher hold more jobs than
``MAX_CAPACITY`` analyses and their prepared followers."""

from __future__ import annotations

import pytest

from fetcher.processor_client import MAX_CAPACITY, PROGRESS_BODY_BYTES, capacity
from tests.loopback import Loopback, Quiet


def serve(body: bytes, status: int = 200) -> Loopback:
    class Health(Quiet):
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            self.answer(body, status)

    return Loopback(Health)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"status": "ok", "capacity": 4}', 4),
        (b'{"status": "ok"}', 1),  # declares none: one at a time
        (b'{"capacity": 1000000000}', MAX_CAPACITY),
        (b'{"capacity": 0}', 1),
        (b'{"capacity": -3}', 1),
        (b'{"capacity": true}', 1),
        (b'{"capacity": "8"}', 1),
        (b'{"capacity": 2.5}', 1),
        (b'{"capacity": 4, "pad": "' + b"x" * PROGRESS_BODY_BYTES + b'"}', 1),  # too long
    ],
)
def test_a_declared_capacity_is_taken_within_bounds(body: bytes, expected: int) -> None:
    server = serve(body)
    try:
        assert capacity(server.url) == expected
    finally:
        server.close()


@pytest.mark.parametrize(("body", "status"), [(b"not json", 200), (b"{}", 503), (b"[1]", 200)])
def test_an_unusable_answer_means_ask_again_later(body: bytes, status: int) -> None:
    server = serve(body, status)
    try:
        assert capacity(server.url) is None
    finally:
        server.close()
