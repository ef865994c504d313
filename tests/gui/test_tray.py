"""The tray menu, pause/resume and settings, on the offscreen platform."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from client.gui.app import TrayApp
from client.state import Phase
from client.tracker import TrayState
from client.userconfig import Preferences
from infra.admin import register_client
from infra.local.stack import LocalStack
from tests import samples
from tests.gui.conftest import MakeApp, Opened, write_config


def menu_texts(app: TrayApp) -> list[str]:
    return [a.text() for a in app.tray.menu.actions() if a.text()]


def test_the_tray_menu_has_every_action_and_each_one_works(
    qtbot: QtBot,
    stack: LocalStack,
    make_app: MakeApp,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(stack, tmp_path)
    app = make_app(config)
    assert menu_texts(app)[1:] == [
        "Open watched folder",
        "Open results",
        "Show jobs…",
        "Pause sending",
        "Check for updates…",
        "Settings…",
        "Quit",
    ]
    opened = app.opener
    assert isinstance(opened, Opened)
    app.tray.open_folder_action.trigger()
    app.tray.open_results_action.trigger()
    assert opened.paths == [(tmp_path / "inbox").resolve(), tmp_path / "inbox" / "results"]

    app.tray.jobs_action.trigger()
    assert app.jobs.isVisible()

    app.tray.updates_action.trigger()
    qtbot.waitUntil(lambda: ("Updates", "no update source configured") in app.tray.messages)

    app.tray.settings_action.trigger()
    assert app.dialog is not None and app.dialog.isVisible()
    dialog = app.dialog
    qtbot.waitUntil(
        lambda: app.agent is not None and dialog.keys.client_id.text() == app.agent.client_id
    )
    assert "file" in dialog.keys.where.text()
    dialog.keys.copy_id()
    from PySide6.QtWidgets import QApplication

    assert QApplication.clipboard().text().startswith("client-04")
    dialog.reject()

    quitted: list[bool] = []
    monkeypatch.setattr(app, "_quit", lambda: quitted.append(True))
    agent = app.agent
    assert agent is not None
    app.tray.quit_action.trigger()
    qtbot.waitUntil(lambda: bool(quitted), timeout=20_000)
    assert app.agent is None and agent.engine._stop.is_set()


def test_pause_holds_new_files_back_and_resume_sends_them(
    qtbot: QtBot, stack: LocalStack, make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(write_config(stack, tmp_path))
    assert app.agent is not None
    register_client(stack.admin_settings(), app.agent.client_id, "gui pause test")
    app.tray.pause_action.trigger()
    qtbot.waitUntil(lambda: app.agent is not None and app.agent.engine.paused)
    qtbot.waitUntil(lambda: app.tray.state is TrayState.PAUSED)
    assert app.tray.pause_action.text() == "Resume sending"
    samples.make_text(tmp_path / "inbox" / "held back.txt", "wait for it\n")
    model = app.jobs.model
    qtbot.waitUntil(lambda: len(model.rows) == 1, timeout=10_000)
    qtbot.wait(1500)  # the agent would have sent it by now if it were not paused
    assert model.rows[0].phase is Phase.STAGING
    assert "paused (1 file not sent yet)" in app.tray.tooltip

    app.tray.pause_action.trigger()
    qtbot.waitUntil(lambda: model.rows[0].phase is Phase.WAITING, timeout=30_000)
    assert app.tray.pause_action.text() == "Pause sending"
    qtbot.waitUntil(lambda: app.tray.state is TrayState.WAITING)
    assert "waiting for results (1 file)" in app.tray.tooltip


def test_settings_are_saved_and_read_back_after_a_restart(
    qtbot: QtBot, stack: LocalStack, make_app: MakeApp, tmp_path: Path
) -> None:
    config = write_config(stack, tmp_path)
    app = make_app(config)
    dialog = app.show_settings()
    form = dialog.form
    form.add_folder(str(tmp_path / "scans"), {"profile": "default", "lang": "de"})
    form.results.setText(str(tmp_path / "all results"))
    form.concurrency.setValue(7)
    form.autostart.setChecked(True)
    first = app.agent
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: app.agent is not None and app.agent is not first, timeout=30_000)
    assert (tmp_path / "autostart" / "fpw.desktop").is_file()
    assert [f.name for f, _ in app.agent.folders] == ["inbox", "scans"] if app.agent else False

    # A new app on the same file (as after a restart) shows the same values.
    again = make_app(config)
    prefs = Preferences.from_settings(again.settings())
    assert prefs.folders[1] == (str(tmp_path / "scans"), {"profile": "default", "lang": "de"})
    assert prefs.results == str(tmp_path / "all results") and prefs.concurrency == 7
    reopened = again.show_settings()
    assert reopened.form.autostart.isChecked()
    assert reopened.form.preferences() == prefs
    assert again.agent is not None and again.agent.engine.uploader._pool._max_workers == 7


def test_a_params_typo_is_reported_and_nothing_is_saved(
    qtbot: QtBot,
    stack: LocalStack,
    make_app: MakeApp,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PySide6.QtWidgets import QMessageBox, QTableWidgetItem

    config = write_config(stack, tmp_path)
    before = config.read_text()
    app = make_app(config, start=False)
    dialog = app.show_settings()
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text: warnings.append(text))
    dialog.form.folders.setItem(0, 1, QTableWidgetItem("{profile: default"))
    dialog.buttons.accepted.emit()
    assert warnings and "not valid JSON" in warnings[0]
    assert dialog.isVisible() and config.read_text() == before
