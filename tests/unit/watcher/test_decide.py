"""The watcher's decisions, with the clock passed in."""

from __future__ import annotations

import datetime as dt

from shared.config import Settings
from shared.record import Job, Status
from watcher.sweep import Action, decide, retirable

NOW = dt.datetime(2026, 11, 22, 12, 0, 0, tzinfo=dt.UTC)


def job(**fields: object) -> Job:
    base = Job(
        file="file-1",
        client="client-04",
        version="0.1.0",
        created="2026-11-22T11:00:00.000Z",
        bucket="b",
        chunks=1,
        size=1,
        sha256="",
        chunk_sha256=[""],
    )
    for name, value in fields.items():
        setattr(base, name, value)
    return base


def test_a_job_with_a_fresh_heartbeat_is_left_alone() -> None:
    fresh = job(status=Status.PROCESSING, heartbeat="2026-11-22T11:59:30.000Z", attempts=1)
    assert decide(fresh, NOW, Settings()) is Action.NOTHING


def test_a_stalled_job_is_requeued_until_its_attempts_run_out() -> None:
    stale = "2026-11-22T11:58:00.000Z"
    settings = Settings()
    assert (
        decide(job(status=Status.PROCESSING, heartbeat=stale, attempts=1), NOW, settings)
        is Action.REQUEUE
    )
    last = job(status=Status.PROCESSING, heartbeat=stale, attempts=settings.watcher.max_attempts)
    assert decide(last, NOW, settings) is Action.FAIL_STALLED


def test_a_queued_job_is_failed_only_after_the_upload_timeout() -> None:
    settings = Settings()
    assert decide(job(), NOW, settings) is Action.NOTHING
    settings.watcher.upload_timeout_seconds = 60
    assert decide(job(), NOW, settings) is Action.FAIL_UPLOAD


def test_finished_jobs_need_nothing_of_their_own() -> None:
    """Their leftover chunks are found by the sweep's one pass over the bucket."""
    assert decide(job(status=Status.COMPLETED), NOW, Settings()) is Action.NOTHING
    assert decide(job(status=Status.ERROR), NOW, Settings()) is Action.NOTHING


def test_a_finished_result_past_its_retention_expires_once() -> None:
    past = int(NOW.timestamp()) - 1
    lapsed = job(status=Status.COMPLETED, results=b"sealed", expires=past)
    assert decide(lapsed, NOW, Settings()) is Action.EXPIRE
    gone = job(status=Status.COMPLETED, results=None, expires=past, expired="2026-11-22T11:59Z")
    assert decide(gone, NOW, Settings()) is Action.NOTHING
    kept = job(status=Status.COMPLETED, results=b"sealed", expires=past + 3600)
    assert decide(kept, NOW, Settings()) is Action.NOTHING


def test_a_finished_job_leaves_the_sweep_index_once_its_result_is_gone_and_its_window_over() -> (
    None
):
    """Retired too early, a job would drop out of the error counts and the expiry
    of its result; never retired, the index would grow like the table."""
    long_ago, just_now = "2026-11-22T11:50:00.000Z", "2026-11-22T11:59:00.000Z"
    done = job(status=Status.COMPLETED, processed=long_ago, delivered=long_ago)
    assert retirable(done, NOW)
    assert not retirable(job(status=Status.COMPLETED, processed=just_now), NOW)
    assert not retirable(job(status=Status.COMPLETED, processed=long_ago, results=b"x"), NOW)
    assert not retirable(job(status=Status.ERROR, processed=long_ago, results_ref="s3://b/k"), NOW)
    assert retirable(job(status=Status.ERROR, processed=long_ago), NOW)
    for unfinished in (Status.QUEUED, Status.PROCESSING):
        assert not retirable(job(status=unfinished, processed=long_ago), NOW)
