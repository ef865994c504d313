"""The viewer under a real X server (Xvfb) as well as offscreen: the viewer's
tests run again on Qt's ``xcb`` platform, and each result kind's rendered
viewer is grabbed as a picture (the ones in ``docs/img`` come from here:
``DOCS_SCREENSHOTS=docs/img``).

Skipped where Xvfb is not installed (``apt-get install xvfb``; ``.ci/full``
installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from tests.gui.conftest import OpenViewer
from tests.gui.test_viewer import page_text

XVFB_RUN = shutil.which("xvfb-run")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = "DOCS_SCREENSHOTS"
"""Where ``test_each_kind_of_result_is_grabbed`` keeps its pictures (default: a temporary
folder); the documentation's are made with ``docs/img``."""

# What each kind's page must show once rendered, read back from the widget.
KINDS = {
    "png": ("Invoice 2041", "viewer-image.png"),
    "jpeg": ("Camera", "viewer-photo.png"),
    "pdf": ("The first page greets the reader warmly", "viewer-pdf.png"),
    "scan": ("Scanned letter text", "viewer-scan.png"),
    "txt": ("measured twice", "viewer-text.png"),
    "md": ("Setting up", "viewer-markdown.png"),
    "csv": ("pipette", "viewer-csv.png"),
    "docx": ("approved the budget", "viewer-word.png"),
}


@pytest.mark.skipif(XVFB_RUN is None, reason="Xvfb is not installed (apt-get install xvfb)")
@pytest.mark.slow  # a second run of the viewer's tests: about 80 s on two cores
def test_the_viewer_tests_pass_on_a_real_x_server(tmp_path: Path) -> None:
    assert XVFB_RUN is not None
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "EXPECT_QT_PLATFORM": "xcb"}
    env.pop("DISPLAY", None)
    run = subprocess.run(
        [
            XVFB_RUN,
            "-a",
            "-s",
            "-screen 0 1280x1024x24",
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'run'}",
            "tests/gui/test_viewer.py",
            "tests/gui/test_real_display.py::test_each_kind_of_result_is_grabbed",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]


def test_each_kind_of_result_is_grabbed(
    qtbot: QtBot, open_viewer: OpenViewer, tmp_path: Path
) -> None:
    from PySide6.QtGui import QGuiApplication

    expected = os.environ.get("EXPECT_QT_PLATFORM")
    if expected:
        assert QGuiApplication.platformName() == expected
    out = Path(os.environ.get(SCREENSHOT_DIR) or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    for kind, (words, name) in KINDS.items():
        viewer = open_viewer(kind)
        viewer.resize(900, 640)
        qtbot.waitExposed(viewer)
        assert words in page_text(viewer), kind
        target = out / name
        assert viewer.grab().save(str(target)), target
        picture = QImage(str(target))
        assert picture.width() >= 600 and picture.height() >= 400
        # Rendered, not blank: a page has text, so more than a handful of colours.
        colours = {
            picture.pixel(x, y)
            for x in range(0, picture.width(), 7)
            for y in range(0, picture.height(), 7)
        }
        assert len(colours) > 8, (kind, len(colours))
        viewer.close()
