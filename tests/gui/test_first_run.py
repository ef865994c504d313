"""The first run walks through folders and connection, then creates the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from client.keystore import KeyStore
from client.tracker import TrayState
from shared.config import load_settings
from shared.signing import client_id
from tests.gui.conftest import MakeApp


def test_the_first_run_sets_folders_creates_the_key_and_starts(
    qtbot: QtBot, make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nowhere to reach: the agent starts, and says it is offline once it has to send.
    monkeypatch.setenv("FPW_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FPW_CLIENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "none")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "none")
    config = tmp_path / "config" / "fpw.toml"
    app = make_app(config, start=False)
    app.start()
    wizard = app.wizard
    assert wizard is not None and wizard.isVisible()
    wizard.next()
    wizard.form.folders.setRowCount(0)
    wizard.form.add_folder(str(tmp_path / "drop here"), {"profile": "default"})
    wizard.form.results.setText(str(tmp_path / "results"))
    wizard.next()
    shown = wizard.keys.client_id.text()
    assert shown.startswith("client-04")
    store = KeyStore(tmp_path / "state")
    assert store.exists() and "file" in wizard.keys.where.text()
    assert client_id(store.load_or_create().public_key()) == shown
    wizard.accept()

    settings = load_settings(config, environ={})
    assert settings.client.inbox == tmp_path / "drop here"
    assert settings.client.params == {"profile": "default"}
    assert settings.client.results == tmp_path / "results"
    qtbot.waitUntil(lambda: app.agent is not None, timeout=30_000)
    assert app.agent is not None and app.agent.client_id == shown
    (tmp_path / "drop here" / "letter.txt").write_text("dear reader\n")
    qtbot.waitUntil(lambda: app.tray.state is TrayState.OFFLINE, timeout=30_000)
    assert "offline" in app.tray.tooltip
