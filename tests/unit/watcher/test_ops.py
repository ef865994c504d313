"""Orphans, alert conditions, the status page and the check's verdicts, without I/O."""

from __future__ import annotations

import datetime as dt

from shared.config import WatcherSettings
from shared.presence import Presence
from shared.record import Status
from tests.unit.watcher.test_decide import NOW, job
from watcher import alerts, ops, snapshot
from watcher.sweep import owner, unwanted

OLD = NOW - dt.timedelta(hours=2)


def test_objects_without_a_job_are_orphans_only_once_older_than_the_grace() -> None:
    known = {"file-1": job(status=Status.QUEUED)}
    assert unwanted("client-04/file-2/0", OLD, known, NOW, 3600)
    assert not unwanted("client-04/file-2/0", NOW, known, NOW, 3600)
    assert not unwanted("client-04/file-1/0", OLD, known, NOW, 3600)
    assert unwanted("results/client-04/file-2", OLD, known, NOW, 3600)
    delivered = {"file-1": job(status=Status.COMPLETED, delivered="2026-11-22T11:00:00.000Z")}
    assert unwanted("results/client-04/file-1", NOW, delivered, NOW, 3600)
    assert not unwanted("receipts/client-04/file-2", OLD, known, NOW, 3600)
    assert not unwanted("something/else", OLD, known, NOW, 3600)


def test_a_finished_jobs_chunks_are_leftovers_at_once_and_its_result_waits_for_delivery() -> None:
    for status in (Status.COMPLETED, Status.ERROR):
        finished = {"file-1": job(status=status)}
        assert unwanted("client-04/file-1/3", NOW, finished, NOW, 3600)
        assert not unwanted("results/client-04/file-1", OLD, finished, NOW, 3600)
    for status in (Status.QUEUED, Status.PROCESSING):
        assert not unwanted("client-04/file-1/3", OLD, {"file-1": job(status=status)}, NOW, 3600)


def test_only_chunk_and_result_keys_have_an_owner() -> None:
    assert owner("client-04/file-1/0") == "file-1"
    assert owner("results/client-04/file-1") == "file-1"
    assert owner("receipts/client-04/file-1") is None
    assert owner("client-04/file-1") is None
    assert owner("other/file-1/0") is None


def snap_of(*jobs: object, fetchers: tuple[Presence, ...] = ()) -> snapshot.Snapshot:
    return snapshot.take(jobs, NOW, 60, fetchers)  # type: ignore[arg-type]


def test_the_snapshot_counts_what_ops_needs() -> None:
    recent = "2026-11-22T11:59:30.000Z"
    snap = snap_of(
        job(file="file-q", status=Status.QUEUED, created="2026-11-22T11:50:00.000Z"),
        job(file="file-f", status=Status.QUEUED, version="9.0.0"),
        job(file="file-s", status=Status.PROCESSING, heartbeat="2026-11-22T11:55:00.000Z"),
        job(file="file-c", status=Status.COMPLETED, processed=recent),
        job(file="file-e", status=Status.ERROR, processed=recent, error="bad chunk"),
        fetchers=(Presence("processor-1", "0.1.0", ">=0.1.0 <1.0.0", NOW),),
    )
    assert snap.counts == {"QUEUED": 2, "PROCESSING": 1, "COMPLETED": 1, "ERROR": 1}
    assert snap.oldest_queued is not None and snap.oldest_queued.file == "file-f"
    assert [j.file for j in snap.stalled] == ["file-s"]
    assert [j.file for j in snap.unsupported] == ["file-f"]
    assert snap.completed_last_minute == 1 and snap.errors_last_minute == 1
    assert snapshot.metrics(snap)["QueueDepth"] == (2.0, "Count")
    page = ops.render_status(snap, "fpw")
    assert "processor-1" in page and "bad chunk" in page and "9.0.0" in page


def test_conditions_fire_at_their_thresholds() -> None:
    ws = WatcherSettings(alert_queue_depth=2, alert_oldest_seconds=3600, alert_errors=1)
    snap = snap_of(job(status=Status.QUEUED), job(file="file-2", status=Status.QUEUED))
    firing = {c.name for c in alerts.conditions(snap, ws) if c.firing}
    assert firing == {"queue-depth", "queue-age"}
    assert not any(c.firing for c in alerts.conditions(snap_of(), ws))


def test_an_alert_changes_state_only_from_the_other_state() -> None:
    fire = alerts.change("queue-depth", alerts.FIRING, "t")
    clear = alerts.change("queue-depth", alerts.OK, "t")
    assert (
        "attribute_not_exists(#state)" in fire.condition
        and ":ok" in fire.kwargs()["ExpressionAttributeValues"]
    )
    assert clear.condition == "#state = :firing"


def test_the_check_reports_the_worst_state_in_plugin_format() -> None:
    snap = snap_of(job(status=Status.QUEUED), job(file="file-2", status=Status.QUEUED))
    limits = ops.thresholds((1, 5), (1e9, 1e9), (1, 5), (1, 5))
    state, line = ops.evaluate(snap, limits)
    assert state is ops.Severity.WARNING
    assert line.startswith("FPW WARNING - queued 2 >= 1")
    assert "| queued=2;1;5;0" in line
    state, _ = ops.evaluate(snap, ops.thresholds((1, 2), (1e9, 1e9), (1, 5), (1, 5)))
    assert state is ops.Severity.CRITICAL
    state, line = ops.evaluate(snap_of(), limits)
    assert state is ops.Severity.OK and line.startswith("FPW OK - 0 queued")


def test_a_fetcher_silent_for_twice_its_interval_is_gone_unless_it_heartbeats_a_job() -> None:
    def seen(seconds: float, name: str) -> Presence:
        return Presence(name, "0.1.0", ">=0.1.0 <1.0.0", NOW - dt.timedelta(seconds=seconds))

    busy_beat = (NOW - dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    dead_beat = (NOW - dt.timedelta(seconds=50)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    busy = Status.PROCESSING
    snap = snap_of(
        job(file="file-b", status=busy, holder="processor-busy", heartbeat=busy_beat),
        job(file="file-d", status=busy, holder="processor-dead", heartbeat=dead_beat),
        fetchers=(
            seen(10, "processor-idle"),
            seen(200, "processor-busy"),  # announces only between jobs
            seen(40, "processor-dead"),  # killed mid-job
            seen(400, "processor-old"),  # beyond five minutes: not listed
        ),
    )
    assert [f.holder for f in snap.fetchers] == ["processor-busy", "processor-idle"]
    assert [f.holder for f in snap.gone] == ["processor-dead"]
    page = ops.render_status(snap, "fpw")
    running, _, gone = page.partition("fetchers gone")
    assert "processor-idle" in running and "processor-dead" not in running
    assert "processor-dead" in gone and "held file-d" in gone
    assert "processor-old" not in page
