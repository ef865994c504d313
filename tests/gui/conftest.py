"""Tray app tests: real Qt widgets on the offscreen platform, a real agent
against the session's local stack, and (per module) a processor and a
fetcher in their own processes."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from client import report  # noqa: E402
from client.gui.app import TrayApp  # noqa: E402
from client.gui.viewer import ResultViewer  # noqa: E402
from infra.fleetkey import local_pins  # noqa: E402
from infra.local.stack import LocalStack  # noqa: E402
from infra.local.up import System, aws_table  # noqa: E402
from processor.analysis import analyze  # noqa: E402
from shared.config import dump_toml  # noqa: E402
from tests import samples  # noqa: E402


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


# ---- Results of each kind, from the reference analysis, and a viewer on them.

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """(original, result file) of each kind, from the reference analysis run here."""
    folder = tmp_path_factory.mktemp("results")
    originals: dict[str, tuple[Path, str]] = {
        "png": (
            samples.make_text_image(folder / "invoice.png", ["Invoice 2041", "Total 118 EUR"]),
            "image/png",
        ),
        "jpeg": (samples.make_jpeg_with_exif(folder / "camera.jpg"), "image/jpeg"),
        "pdf": (
            samples.make_pdf(
                folder / "report.pdf",
                ["The first page greets the reader warmly", "Second page\nsays farewell"],
            ),
            "application/pdf",
        ),
        "scan": (
            samples.make_scanned_pdf(folder / "scan.pdf", [["Scanned letter text"]]),
            "application/pdf",
        ),
        "txt": (
            samples.make_text(
                folder / "notes.txt",
                "The samples were measured twice this morning.\nThe second run agrees.\n",
            ),
            "text/plain",
        ),
        "md": (
            samples.make_text(
                folder / "guide.md",
                "# Setting up\n\nInstall the tools before the first run of the lab.\n\n"
                "## Cleaning\n\nWipe the bench after every run.\n",
            ),
            "text/markdown",
        ),
        "csv": (
            samples.make_csv(
                folder / "stock.csv", ["item", "count"], [["beaker", 12], ["pipette", 40]]
            ),
            "text/csv",
        ),
        "docx": (
            samples.make_docx(
                folder / "minutes.docx",
                ["The committee met on Tuesday and approved the budget."],
                heading="Minutes",
                title="Committee minutes",
            ),
            DOCX,
        ),
    }
    made: dict[str, tuple[Path, Path]] = {}
    for kind, (original, ctype) in originals.items():
        result = analyze(original, ctype, {}, "file-viewer-test")
        target = folder / f"{original.name}.result.json"
        target.write_text(json.dumps(result), encoding="utf-8")
        made[kind] = (original, target)
    return made


OpenViewer = Callable[..., ResultViewer]


@pytest.fixture
def open_viewer(qtbot: QtBot, results: dict[str, tuple[Path, Path]]) -> OpenViewer:
    def open_(kind: str, with_picture: bool = True) -> ResultViewer:
        original, path = results[kind]
        data = path.read_bytes()
        picture = report.find_picture(report.load(data), [original]) if with_picture else None
        viewer = ResultViewer(path, data, picture=picture)
        qtbot.addWidget(viewer)
        viewer.show()
        return viewer

    return open_
