"""Screenshots of the real tray app for the docs: ``python -m tests.screenshots docs/img``.

Runs the whole system on this machine (local stack, reference processor,
one fetcher), starts the tray app on the offscreen platform, drops a few
files (one of them a broken PDF, so a failure shows), waits for them to
finish and grabs the jobs window, the tray menu, two results (a text's page,
an image's OCR boxes) and the settings.
A documentation tool, kept with the tests (it runs the local stack); nothing here
is part of the product or its bundle.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from client.gui.app import TrayApp  # noqa: E402


def _wait(app: QApplication, done: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.05)


def _grab(app: QApplication, widget: QWidget, target: Path) -> None:
    widget.ensurePolished()
    app.processEvents()
    if not widget.grab().save(str(target)):
        raise SystemExit(f"cannot write {target}")
    print(f"wrote {target}")


def _drop_files(inbox: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    inbox.mkdir(parents=True, exist_ok=True)
    staging = inbox.parent / "staging"
    staging.mkdir(exist_ok=True)
    image = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 150, 300, 330), fill="#1565c0")
    draw.ellipse((340, 170, 600, 380), fill="#ef6c00")
    font = ImageFont.load_default(size=36)
    draw.text((40, 30), "Plate 12: growth at 37 C", font=font, fill="black")
    draw.text((40, 85), "Batch 7, read 30 November", font=font, fill="black")
    image.save(staging / "plate 12.png")
    (staging / "meeting notes.txt").write_text(
        "Samples 1 to 12 were measured twice.\nThe second run agrees with the first.\n" * 40,
        encoding="utf-8",
    )
    (staging / "inventory.csv").write_text(
        "item,count\n" + "".join(f"sample {i},{i * 3}\n" for i in range(300)), encoding="utf-8"
    )
    (staging / "report.pdf").write_bytes(b"this is not a PDF\n")
    for path in sorted(staging.iterdir()):
        path.rename(inbox / path.name)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/img")
    out.mkdir(parents=True, exist_ok=True)
    from infra.admin import register_client
    from infra.fleetkey import local_pins
    from infra.local.stack import start_local_stack
    from infra.local.up import System, aws_table
    from shared.config import dump_toml

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory(prefix="fpw-shots-") as tmp:
        home = Path(tmp)
        stack = start_local_stack(home / "stack")
        system = System(stack, home / "system")
        tray_app: TrayApp | None = None
        try:
            system.start_processor()
            system.start_fetcher()
            inbox = home / "Lab inbox"
            config = home / "config.toml"
            config.write_text(
                dump_toml(
                    {
                        "aws": aws_table(stack.role_settings("client")),
                        "client": {
                            "inbox": str(inbox),
                            "state_dir": str(home / "state"),
                            "stable_seconds": 0.5,
                            "poll_seconds": 0.5,
                            "folders": {str(home / "Scans"): {"profile": "default"}},
                            "fleet_keys": local_pins(stack),
                        },
                    }
                ),
                encoding="utf-8",
            )
            tray_app = TrayApp(config, opener=lambda _path: None)
            tray_app.start()
            _wait(app, lambda: tray_app is not None and tray_app.agent, 60, "the agent")
            agent = tray_app.agent
            assert agent is not None
            register_client(stack.admin_settings(), agent.client_id, "screenshots")
            _drop_files(inbox)
            rows = tray_app.jobs.model.rows
            _wait(
                app,
                lambda: len(rows) == 4 and all(r.phase.finished for r in rows),
                120,
                "four finished jobs",
            )
            tray_app.refresh()
            tray_app.jobs.resize(1000, 260)
            tray_app.jobs.show()
            # A done row selected: the failed one shows in its own red.
            tray_app.jobs.select(next(r for r in rows if r.name == "plate 12.png").file_id)
            _grab(app, tray_app.jobs, out / "jobs-window.png")
            menu = tray_app.tray.menu
            menu.adjustSize()
            _grab(app, menu, out / "tray-menu.png")
            done = next(r for r in rows if r.name == "meeting notes.txt")
            tray_app.open_result(done)
            _wait(app, lambda: tray_app is not None and tray_app.viewers, 30, "the viewer")
            viewer = tray_app.viewers[-1]
            viewer.resize(760, 560)
            if viewer.search is not None:
                viewer.search.setText("second run")
            _grab(app, viewer, out / "result-viewer.png")
            plate = next(r for r in rows if r.name == "plate 12.png")
            tray_app.open_result(plate)
            _wait(app, lambda: tray_app is not None and len(tray_app.viewers) > 1, 30, "a viewer")
            viewer = tray_app.viewers[-1]
            viewer.resize(900, 460)
            if viewer.tabs is not None:
                viewer.tabs.setCurrentIndex(1)
            _grab(app, viewer, out / "result-picture.png")
            dialog = tray_app.show_settings()
            dialog.resize(760, 720)
            editor = dialog.form.params
            _wait(app, lambda: editor.catalog is not None, 30, "the fleet's profiles")
            editor.profile.setCurrentIndex(editor.profile.findData("summary"))
            _grab(app, dialog, out / "settings.png")
            dialog.reject()
        finally:
            if tray_app is not None and tray_app.agent is not None:
                tray_app.agent.stop()
            system.stop()
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
