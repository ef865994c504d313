"""Status at a glance: failed rows red with their reason, done rows with the time
of each step, the tray's tooltip counting files, one notification per batch."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from client.events import Event
from client.gui.jobs import FAILED_BACKGROUND, FAILED_TEXT, PROGRESS, JobsWindow
from client.gui.tray import Tray
from client.state import Phase
from client.tracker import JobView, Tracker, TrayState, counts, summary


def finished(tracker: Tracker, file_id: str, name: str, ok: bool, start: float) -> JobView:
    """A job through every step (a second each), done or failed at the end."""
    steps = [
        Event(file_id, name, Phase.UPLOADING, progress=50.0),
        Event(file_id, name, Phase.WAITING, status="QUEUED"),
        Event(file_id, name, Phase.WAITING, progress=10.0, status="PROCESSING"),
        Event(file_id, name, Phase.WAITING, status="COMPLETED"),
    ]
    for n, event in enumerate(steps):
        tracker.apply(event, start + n)
    last = (
        Event(file_id, name, Phase.DONE, f"/results/{name}.result.json")
        if ok
        else Event(file_id, name, Phase.FAILED, "the PDF is corrupt or unreadable")
    )
    return tracker.apply(last, start + 4.5)


def test_a_failed_row_is_red_with_its_reason_and_a_done_row_says_how_long_each_step_took(
    qtbot: QtBot,
) -> None:
    tracker = Tracker()
    done = finished(tracker, "file-done", "notes.txt", True, 100.0)
    failed = finished(tracker, "file-failed", "scan.pdf", False, 200.0)
    window = JobsWindow()
    qtbot.addWidget(window)
    window.model.reset([done, failed])
    window.resize(1000, 200)
    window.show()
    qtbot.waitExposed(window)
    model = window.model
    rows = {model.rows[r].name: r for r in range(len(model.rows))}
    bad, good = rows["scan.pdf"], rows["notes.txt"]

    assert model.data(model.index(bad, 6)) == "the PDF is corrupt or unreadable"
    assert model.data(model.index(bad, 2)) == "failed"
    assert model.data(model.index(bad, PROGRESS)) == "failed"
    for column in range(7):
        index = model.index(bad, column)
        assert model.data(index, Qt.ItemDataRole.ForegroundRole) == FAILED_TEXT
        assert model.data(index, Qt.ItemDataRole.BackgroundRole) == FAILED_BACKGROUND
        assert model.data(model.index(good, column), Qt.ItemDataRole.BackgroundRole) is None
    assert model.data(model.index(bad, 6), Qt.ItemDataRole.ToolTipRole) == failed.error
    assert model.data(model.index(good, 2)) == (
        "done: upload 1.0 s, queue 1.0 s, processing 1.0 s, download 1.5 s"
    )

    # The failed row's bar is drawn red right across, not stopped blue part-way.
    window.table.clearSelection()
    image = window.table.viewport().grab().toImage()
    bar = window.table.visualRect(model.index(bad, PROGRESS))
    samples = [
        image.pixelColor(bar.left() + x, bar.center().y())
        for x in (8, bar.width() // 2 + 20, bar.width() - 8)
    ]
    for colour in samples:
        assert colour.red() > 180 and colour.blue() < 120, colour.name()
    good_bar = window.table.visualRect(model.index(good, PROGRESS))
    colour = image.pixelColor(good_bar.left() + 8, good_bar.center().y())
    assert not (colour.red() > 180 and colour.blue() < 120), colour.name()


def test_the_tooltip_says_what_happens_and_counts_sending_waiting_and_failed(
    qtbot: QtBot,
) -> None:
    tracker = Tracker()
    tracker.apply(Event("file-1", "a.txt", Phase.UPLOADING, progress=10.0), 1.0)
    for n in range(3):
        tracker.apply(Event(f"file-w{n}", f"w{n}.txt", Phase.WAITING, status="QUEUED"), 2.0)
    finished(tracker, "file-f", "scan.pdf", False, 3.0)
    tray = Tray()
    state, text = summary(tracker.views(), paused=False, offline=False)
    tray.set_state(state, text, counts(tracker.views()))
    assert state is TrayState.ERROR
    first, second = tray.tooltip.split("\n")
    assert first.startswith("fpw: 1 file failed; last: scan.pdf")
    assert second == "1 sending, 3 waiting, 1 failed"
    assert tray.icon.toolTip() == tray.tooltip
    assert tray.status_action.text() == first[:47] + "…"  # the menu keeps one short line


def test_files_finishing_together_give_one_notification(qtbot: QtBot) -> None:
    tracker = Tracker()
    tray = Tray()
    views = [finished(tracker, f"file-{n}", f"plate {n}.png", True, float(n)) for n in range(7)]
    views.insert(3, finished(tracker, "file-bad", "scan.pdf", False, 9.0))
    for view in views:
        tray.announce(view)
    assert tray.messages == []  # gathered, not shown one by one
    qtbot.waitUntil(lambda: bool(tray.messages), timeout=10_000)
    qtbot.wait(300)
    assert tray.messages == [
        (
            "7 results ready, 1 failed",
            "Failed: scan.pdf. Ready: plate 0.png, plate 1.png, plate 2.png and 4 more.",
        )
    ]
    # Clicking the notification opens the jobs window.
    with qtbot.waitSignal(tray.show_jobs):
        tray.icon.messageClicked.emit()
    # A file on its own, later, is named.
    tray.announce(finished(tracker, "file-late", "late.txt", True, 20.0))
    qtbot.waitUntil(lambda: len(tray.messages) == 2, timeout=10_000)
    assert tray.messages[-1] == ("Result ready", "late.txt")
    # Progress on the way is never announced.
    tray.announce(tracker.apply(Event("file-x", "x.txt", Phase.UPLOADING, progress=5.0), 30.0))
    tray.flush()
    assert len(tray.messages) == 2


def test_a_stream_of_results_is_announced_at_least_every_few_seconds(qtbot: QtBot) -> None:
    tracker = Tracker()
    tray = Tray()
    n = 0

    def one_more() -> None:
        nonlocal n
        n += 1
        tray.announce(finished(tracker, f"file-{n}", f"{n}.txt", True, float(n)))

    timer = QTimer()
    timer.timeout.connect(one_more)
    timer.start(500)  # each result comes before the quiet window closes
    try:
        qtbot.waitUntil(lambda: bool(tray.messages), timeout=20_000)
    finally:
        timer.stop()
    title, _text = tray.messages[0]
    assert title.endswith("results ready") and int(title.split()[0]) >= 5
