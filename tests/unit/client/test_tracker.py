"""What the jobs window and the tray show, worked out from engine events."""

from __future__ import annotations

from client.engine import Event
from client.state import Phase
from client.tracker import Tracker, TrayState, summary


def ev(phase: Phase, progress: float | None = None, remote: str | None = None) -> Event:
    detail = "/results/a.txt.result.json" if phase is Phase.DONE else ""
    return Event("file-1", "a.txt", phase, detail, progress, remote)


def test_the_bar_moves_through_upload_queue_processing_and_download() -> None:
    tracker = Tracker()
    steps = [
        ev(Phase.STAGING),
        ev(Phase.UPLOADING, 50.0),
        ev(Phase.UPLOADING, 100.0),
        ev(Phase.WAITING),
        ev(Phase.WAITING, None, "QUEUED"),
        ev(Phase.WAITING, 40, "PROCESSING"),
        ev(Phase.WAITING, None, "COMPLETED"),
        ev(Phase.DONE),
    ]
    seen = [tracker.apply(step, now=float(n)) for n, step in enumerate(steps)]
    progress = [v.progress for v in seen]
    assert progress == sorted(progress) and progress[-1] == 100.0
    assert [v.stage for v in seen] == [
        "preparing",
        "uploading 50 %",
        "uploading 100 %",
        "waiting for processing",
        "queued",
        "processing 40 %",
        "downloading the result",
        "done",
    ]
    assert seen[-1].finished == 7.0 and seen[-1].created == 0.0
    assert str(seen[-1].result_path).endswith("a.txt.result.json")


def test_the_bar_never_moves_back() -> None:
    tracker = Tracker()
    tracker.apply(ev(Phase.WAITING, 80, "PROCESSING"), 0.0)
    later = tracker.apply(ev(Phase.WAITING, None, "QUEUED"), 1.0)  # requeued after a stall
    assert later.progress >= 55.0 + 0.8 * 35.0 - 0.01 and later.stage == "queued"


def test_a_failure_keeps_its_reason_and_shows_in_the_tray_until_seen() -> None:
    tracker = Tracker()
    tracker.apply(ev(Phase.UPLOADING, 100.0), 0.0)
    failed = tracker.apply(Event("file-1", "a.txt", Phase.FAILED, "not a readable pdf"), 1.0)
    assert failed.error == "not a readable pdf" and failed.stage == "failed"
    state, text = summary(tracker.views(), paused=False, offline=False)
    assert state is TrayState.ERROR and "not a readable pdf" in text
    tracker.mark_seen()
    assert summary(tracker.views(), paused=False, offline=False)[0] is TrayState.IDLE


def test_the_tray_says_the_most_urgent_thing() -> None:
    tracker = Tracker()
    tracker.apply(Event("f1", "a", Phase.UPLOADING, progress=10.0), 0.0)
    tracker.apply(Event("f2", "b", Phase.UPLOADING, progress=10.0), 0.0)
    tracker.apply(Event("f3", "c", Phase.WAITING), 0.0)
    views = tracker.views()
    assert summary(views, False, False) == (TrayState.UPLOADING, "uploading 2 files")
    assert summary(views, False, True)[0] is TrayState.OFFLINE
    assert summary(views, True, True) == (TrayState.PAUSED, "paused (2 files not sent yet)")
    tracker.remove("f1")
    tracker.remove("f2")
    assert summary(tracker.views(), False, False) == (
        TrayState.WAITING,
        "waiting for results (1 file)",
    )
    assert summary([], False, False) == (TrayState.IDLE, "idle")
