"""The one back-off and retry helper every retry loop uses."""

from __future__ import annotations

import threading

import pytest

from shared.aws import Backoff, retry
from shared.errors import PermanentError, TransientError


def test_waits_double_up_to_the_cap() -> None:
    waits = Backoff(first=1.0, cap=5.0)
    assert [waits.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_call_that_recovers_returns_its_answer() -> None:
    failures = iter([TransientError("busy"), TransientError("busy")])

    def call() -> str:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return "done"

    assert retry(call, what="test", backoff=Backoff(first=0.0)) == "done"


def test_the_last_failure_is_raised_after_the_tries() -> None:
    calls: list[int] = []

    def call() -> None:
        calls.append(1)
        raise TransientError(f"busy {len(calls)}")

    with pytest.raises(TransientError, match="busy 3"):
        retry(call, what="test", tries=3, backoff=Backoff(first=0.0))
    assert len(calls) == 3


def test_other_errors_and_a_stop_end_the_retries_at_once() -> None:
    def permanent() -> None:
        raise PermanentError("never")

    with pytest.raises(PermanentError):
        retry(permanent, what="test")
    stop = threading.Event()
    stop.set()
    calls: list[int] = []

    def transient() -> None:
        calls.append(1)
        raise TransientError("busy")

    with pytest.raises(TransientError):
        retry(transient, what="test", stop=stop)
    assert calls == [1]
