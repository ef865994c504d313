"""The jobs window against the whole local pipeline: a file dropped in the
watched folder moves through upload, queue, processing and download to a
result shown in the viewer; a failed job shows its reason and can be retried."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from client.gui.jobs import PROGRESS
from client.state import Phase
from client.tracker import JobView, TrayState
from infra.admin import register_client
from infra.local.stack import LocalStack
from infra.local.up import System
from tests import samples
from tests.gui.conftest import MakeApp, Opened, write_config


def test_a_dropped_file_moves_through_the_jobs_window_to_a_viewed_result(
    qtbot: QtBot, stack: LocalStack, pipeline: System, make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(write_config(stack, tmp_path, chunk_size=4096, html_reports=True))
    assert app.agent is not None
    register_client(stack.admin_settings(), app.agent.client_id, "gui jobs test")
    seen: list[JobView] = []
    app.bridge.job_changed.connect(seen.append)
    app.show_jobs()
    samples.make_text(tmp_path / "inbox" / "field notes.txt", "alpha beta gamma\n" * 2000)

    model = app.jobs.model
    qtbot.waitUntil(lambda: bool(model.rows) and model.rows[0].phase is Phase.DONE, timeout=60_000)
    # Each connection of a signal emitted from an engine thread is its own queued
    # delivery: the window can show the row done before ``seen`` hears of it.
    qtbot.waitUntil(lambda: bool(seen) and seen[-1].phase is Phase.DONE)
    row = model.rows[0]
    assert row.name == "field notes.txt" and row.size == 34000 and row.progress == 100.0
    # (each slot of a queued signal is its own event: ``seen`` may hear of it just after)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1].stage == "done")
    stages = [v.stage for v in seen]
    assert any(s.startswith("uploading") for s in stages), stages
    assert "downloading the result" in stages and stages[-1] == "done"
    assert [v.progress for v in seen] == sorted(v.progress for v in seen)
    shown = model.data(model.index(0, 2))
    assert shown.startswith("done: upload ") and ", download " in shown, shown
    # The steps between are those the desktop saw the job in: a quick analysis
    # can begin and end between two polls, and then has no time of its own.
    steps = [part.split(" ", 1)[0] for part in shown.removeprefix("done: ").split(", ")]
    assert set(steps) <= {"upload", "queue", "processing", "download"}, shown
    assert model.data(model.index(0, PROGRESS)) == "100 %"
    assert model.data(model.index(0, 5)).endswith(" s)")  # finished at ..., took n s
    qtbot.waitUntil(lambda: ("Result ready", "field notes.txt") in app.tray.messages)
    qtbot.waitUntil(lambda: app.tray.state is TrayState.IDLE)
    assert app.tray.tooltip == "fpw: idle\n0 sending, 0 waiting, 0 failed"
    # client.html_reports: the readable report lies beside the result.
    assert row.result_path is not None
    page = row.result_path.with_name("field notes.txt.result.html").read_text(encoding="utf-8")
    assert "<h1>field notes.txt</h1>" in page and "34,000 bytes" not in page

    # Double-click the row: the viewer opens on the readable page, the raw JSON
    # (pretty and searchable) a tab away.
    rect = app.jobs.table.visualRect(model.index(0, 0))
    # (a press first: an item view takes a double-click only after one)
    viewport = app.jobs.table.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: bool(app.viewers), timeout=10_000)
    viewer = app.viewers[-1]
    assert viewer.kind == "json" and viewer.text is not None and viewer.page is not None
    readable = viewer.page.toPlainText()
    assert "Key facts" in readable and "\nWords\n6,000\n" in readable
    assert viewer.tabs is not None
    viewer.tabs.setCurrentWidget(viewer.text)
    shown = viewer.text.toPlainText()
    assert json.loads(shown)["kind"] == "text" and '\n  "kind": "text"' in shown
    assert viewer.highlight('"words"') == 1 and viewer.found.text() == "1 found"
    opened = app.opener
    assert isinstance(opened, Opened)
    viewer.show_in_folder.emit(viewer.path)
    assert opened.paths == [tmp_path / "inbox" / "results"]

    # A finished job can be taken off the list, and stays off after a restart.
    app.jobs.select(row.file_id)
    assert app.jobs.remove_button.isEnabled() and not app.jobs.retry_button.isEnabled()
    app.jobs.remove_button.click()
    qtbot.waitUntil(lambda: not model.rows)
    assert app.agent.tracker.get(row.file_id) is None
    assert all(d.file_id != row.file_id for d in app.agent.engine.state.visible())


def test_a_failed_job_shows_its_reason_and_a_retry_after_fixing_the_file_succeeds(
    qtbot: QtBot, stack: LocalStack, pipeline: System, make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(write_config(stack, tmp_path))
    assert app.agent is not None
    register_client(stack.admin_settings(), app.agent.client_id, "gui retry test")
    (tmp_path / "inbox").mkdir(exist_ok=True)
    (tmp_path / "inbox" / "scan.pdf").write_bytes(b"this is not a PDF at all\n")

    model = app.jobs.model
    qtbot.waitUntil(
        lambda: bool(model.rows) and model.rows[0].phase is Phase.FAILED, timeout=60_000
    )
    failed = model.rows[0]
    assert failed.error and "pdf" in failed.error.lower()
    assert model.data(model.index(0, 6)) == failed.error
    qtbot.waitUntil(lambda: ("scan.pdf failed", failed.error) in app.tray.messages)
    qtbot.waitUntil(lambda: app.tray.state is TrayState.ERROR)
    assert failed.error in app.tray.tooltip
    assert app.tray.tooltip.endswith("\n0 sending, 0 waiting, 1 failed")
    moved = tmp_path / "inbox" / "failed" / "scan.pdf"
    assert moved.exists()

    # The user opens the window (the tray's error is acknowledged), fixes the
    # file where it was put aside, and retries.
    app.show_jobs()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.IDLE)
    samples.make_pdf(moved, ["Now a proper document"])
    app.jobs.select(failed.file_id)
    assert app.jobs.retry_button.isEnabled()
    app.jobs.retry_button.click()
    qtbot.waitUntil(
        lambda: (
            bool(model.rows)
            and model.rows[0].file_id != failed.file_id
            and model.rows[0].phase is Phase.DONE
        ),
        timeout=60_000,
    )
    assert len(model.rows) == 1  # the failed row made way for the retry
    result = model.rows[0].result_path
    assert result is not None and "proper document" in result.read_text()
    assert (tmp_path / "inbox" / "done" / "scan.pdf").exists()
