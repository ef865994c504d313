"""What the jobs window and the tray show, worked out from engine events."""

from __future__ import annotations

from client.events import Event
from client.state import Phase
from client.tracker import (
    Tracker,
    TrayState,
    counts,
    duration,
    notice,
    status_line,
    step_times,
    summary,
)


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


def test_a_done_job_knows_how_long_each_step_took() -> None:
    tracker = Tracker()
    timeline = [
        (0.0, ev(Phase.STAGING)),
        (1.0, ev(Phase.UPLOADING, 50.0)),
        (3.0, ev(Phase.WAITING)),
        (4.0, ev(Phase.WAITING, None, "QUEUED")),
        (6.0, ev(Phase.WAITING, 10, "PROCESSING")),
        (9.0, ev(Phase.WAITING, 90, "PROCESSING")),
        (16.0, ev(Phase.WAITING, None, "COMPLETED")),
        (16.5, ev(Phase.DONE)),
    ]
    for now, event in timeline:
        view = tracker.apply(event, now)
    assert step_times(view) == [
        ("upload", 3.0),
        ("queue", 3.0),
        ("processing", 10.0),
        ("download", 0.5),
    ]
    assert status_line(view) == "done: upload 3.0 s, queue 3.0 s, processing 10 s, download 0.5 s"


def test_a_requeued_job_adds_its_second_wait_to_the_first() -> None:
    tracker = Tracker()
    for now, event in [
        (0.0, ev(Phase.WAITING, None, "QUEUED")),
        (1.0, ev(Phase.WAITING, 10, "PROCESSING")),
        (2.0, ev(Phase.WAITING, None, "QUEUED")),  # the holder stalled
        (5.0, ev(Phase.WAITING, 10, "PROCESSING")),
        (7.0, ev(Phase.DONE)),
    ]:
        view = tracker.apply(event, now)
    assert step_times(view) == [("queue", 4.0), ("processing", 3.0)]


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration(s) for s in (0.04, 9.94, 12.4, 119.0, 185.0, 7800.0)] == [
        "0.0 s",
        "9.9 s",
        "12 s",
        "119 s",
        "3 min 5 s",
        "2 h 10 min",
    ]


def test_the_tooltip_counts_files_sending_waiting_and_failed() -> None:
    tracker = Tracker()
    phases = [Phase.STAGING, Phase.UPLOADING, Phase.WAITING, Phase.WAITING, Phase.WAITING]
    for n, phase in enumerate(phases):
        tracker.apply(Event(f"file-{n}", f"{n}.txt", phase), float(n))
    tracker.apply(Event("file-9", "bad.pdf", Phase.FAILED, "not a PDF"), 9.0)
    tracker.apply(Event("file-8", "ok.txt", Phase.DONE, "/r/ok.txt.result.json"), 9.0)
    assert counts(tracker.views()) == "2 sending, 3 waiting, 1 failed"
    assert counts([]) == "0 sending, 0 waiting, 0 failed"


def test_one_notification_names_one_file_and_counts_many() -> None:
    assert notice(["a.txt"], []) == ("Result ready", "a.txt", False)
    assert notice([], [("b.pdf", "not a PDF")]) == ("b.pdf failed", "not a PDF", True)
    assert notice([], [("b.pdf", "")]) == ("b.pdf failed", "no reason given", True)
    names = [f"{n}.txt" for n in range(12)]
    assert notice(names, []) == ("12 results ready", "0.txt, 1.txt, 2.txt and 9 more", False)
    title, text, error = notice([], [("x.pdf", "a"), ("y.pdf", "b")])
    assert (title, error) == ("2 files failed", True) and text.startswith("x.pdf, y.pdf")
    title, text, error = notice(names[:2], [("x.pdf", "a")])
    assert title == "2 results ready, 1 failed" and error
    assert text == "Failed: x.pdf. Ready: 0.txt, 1.txt."
    assert notice(["a"], [("x", "r")])[0] == "1 result ready, 1 failed"
