"""Updates from the tray: the user asks, reads the version and its notes,
and only "Install and restart" installs; a refused update leaves the app
running as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from client.gui.app import TrayApp
from client.updates import Installation
from infra.local.stack import LocalStack
from infra.release.bundle import ReleaseHome
from tests.gui.conftest import MakeApp, write_config
from tests.releases import publish, seed_root, serve


@pytest.fixture
def home(tmp_path: Path) -> ReleaseHome:
    home = ReleaseHome(tmp_path / "release")
    home.init()
    publish(home, tmp_path, "0.1.0")
    publish(home, tmp_path, "0.2.0", "Faster uploads.")
    return home


@pytest.fixture
def url(home: ReleaseHome) -> Iterator[str]:
    with serve(home.repository) as base:
        yield base


def start(
    stack: LocalStack, make_app: MakeApp, tmp_path: Path, url: str, home: ReleaseHome
) -> tuple[TrayApp, Installation, list[list[str]]]:
    installation = Installation(tmp_path / "app", executable_name="fpw")
    seed_root(installation, home)
    config = write_config(stack, tmp_path, update_url=url, install_dir=str(installation.root))
    app = make_app(config)
    relaunched: list[list[str]] = []
    app.relaunch = relaunched.append
    return app, installation, relaunched


def state_files(tmp_path: Path) -> dict[str, bytes]:
    state = tmp_path / "state"
    return {
        str(p.relative_to(state)): p.read_bytes()
        for p in state.rglob("*")
        if p.is_file() and p.suffix not in (".db-wal", ".db-shm")
    }


def test_an_update_is_installed_only_when_the_user_clicks_install_then_fpw_restarts(
    qtbot: QtBot, stack: LocalStack, make_app: MakeApp, tmp_path: Path, url: str, home: ReleaseHome
) -> None:
    app, installation, relaunched = start(stack, make_app, tmp_path, url, home)
    assert app.agent is not None
    client_id = app.agent.client_id
    key_files = {k: v for k, v in state_files(tmp_path).items() if not k.endswith(".db")}
    config = (tmp_path / "config.toml").read_bytes()

    app.tray.updates_action.trigger()
    qtbot.waitUntil(lambda: app.update_dialog is not None and app.update_dialog.isVisible())
    dialog = app.update_dialog
    assert dialog is not None
    assert "fpw 0.2.0 is available" in dialog.text()
    assert dialog.detailedText() == "Faster uploads."
    # "Later": the user stays on the version they have.
    dialog.later_button.click()
    qtbot.wait(300)
    assert installation.installed() == [] and relaunched == []

    app.tray.updates_action.trigger()
    qtbot.waitUntil(lambda: app.update_dialog is not dialog and app.update_dialog is not None)
    assert app.update_dialog is not None
    app.update_dialog.install_button.click()
    qtbot.waitUntil(lambda: relaunched != [], timeout=20_000)
    assert relaunched[0][0] == str(installation.versions / "0.2.0" / "fpw")
    assert installation.current() == "0.2.0"
    # Settings and keys live outside the installation: the new version finds them.
    assert (tmp_path / "config.toml").read_bytes() == config
    assert {k: v for k, v in state_files(tmp_path).items() if not k.endswith(".db")} == key_files
    assert app.agent is not None and app.agent.client_id == client_id


def test_a_tampered_update_is_refused_with_a_clear_message_and_the_app_keeps_working(
    qtbot: QtBot, stack: LocalStack, make_app: MakeApp, tmp_path: Path, url: str, home: ReleaseHome
) -> None:
    archive = home.repository / "targets" / "fpw-0.2.0.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-100] + b"\0" * 100)
    app, installation, relaunched = start(stack, make_app, tmp_path, url, home)
    app.tray.updates_action.trigger()
    qtbot.waitUntil(lambda: app.update_dialog is not None and app.update_dialog.isVisible())
    assert app.update_dialog is not None
    app.update_dialog.install_button.click()
    qtbot.waitUntil(lambda: "update refused" in app.last_error, timeout=20_000)
    assert "signed size or hash" in app.last_error
    assert relaunched == [] and installation.installed() == []
    assert app.agent is not None and not app.quitting
    state, _ = app.agent.status()
    app.refresh()
    assert app.tray.state is state


def test_a_timed_check_only_says_that_an_update_exists(
    qtbot: QtBot, stack: LocalStack, make_app: MakeApp, tmp_path: Path, url: str, home: ReleaseHome
) -> None:
    app, installation, relaunched = start(stack, make_app, tmp_path, url, home)
    app.check_updates(quiet=True)
    qtbot.waitUntil(lambda: any(t == "Update available" for t, _ in app.tray.messages))
    app.check_updates(quiet=True)
    qtbot.wait(500)
    assert [t for t, _ in app.tray.messages].count("Update available") == 1
    assert app.update_dialog is None
    assert installation.installed() == [] and relaunched == []
