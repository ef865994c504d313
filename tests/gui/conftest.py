"""Tray app tests: real Qt widgets on the offscreen platform, a real agent
against the session's local stack, and (per module) a processor and a
fetcher in their own processes."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from client.gui.app import TrayApp  # noqa: E402
from infra.fleetkey import local_pins  # noqa: E402
from infra.local.stack import LocalStack  # noqa: E402
from infra.local.up import System, aws_table  # noqa: E402
from shared.config import dump_toml  # noqa: E402


@pytest.fixture(scope="module")
def pipeline(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = System(stack, tmp_path_factory.mktemp("gui-system"))
    system.start_processor()
    system.start_fetcher()
    try:
        yield system
    finally:
        system.stop()


def write_config(stack: LocalStack, home: Path, **client: object) -> Path:
    config = home / "config.toml"
    values = {
        "inbox": str(home / "inbox"),
        "state_dir": str(home / "state"),
        "stable_seconds": 0.3,
        "poll_seconds": 0.3,
        "fleet_keys": local_pins(stack),
        **client,
    }
    config.write_text(
        dump_toml({"aws": aws_table(stack.role_settings("client")), "client": values}),
        encoding="utf-8",
    )
    return config


class Opened:
    """Stands in for the desktop's file opener."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def __call__(self, path: Path) -> None:
        self.paths.append(path)


MakeApp = Callable[..., TrayApp]


@pytest.fixture
def make_app(qtbot: QtBot, tmp_path: Path) -> Iterator[MakeApp]:
    """Start tray apps on a settings file; each is stopped at the end."""
    apps: list[TrayApp] = []

    def make(config: Path, start: bool = True) -> TrayApp:
        app = TrayApp(config, opener=Opened(), autostart_dir=tmp_path / "autostart")
        qtbot.addWidget(app.jobs)
        apps.append(app)
        if start:
            app.start()
            qtbot.waitUntil(lambda: app.agent is not None, timeout=30_000)
        return app

    yield make
    for app in apps:
        agent, app.agent = app.agent, None
        app.timer.stop()
        if agent is not None:
            agent.stop()
        app.bridge.shutdown()
