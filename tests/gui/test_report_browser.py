"""The standalone report in a real browser (headless Chromium): it shows the
result's text and picture with no network, and no script runs from a result.

Skipped where Chromium is not installed (``apt-get install chromium``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from client import report
from processor.analysis import analyze
from tests import samples

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"
    ),
    pytest.mark.slow,  # two browser starts and two OCR runs: about a minute on two cores
]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_report_of_an_image_shows_its_text_and_picture_in_a_browser(
    tmp_path: Path,
) -> None:
    original = samples.make_text_image(tmp_path / "invoice.png", ["Invoice 2041"])
    result = analyze(original, "image/png", {}, "file-browser-test")
    result["analysis"]["format"] = '<script>document.title="pwned"</script>'
    result_path = tmp_path / "invoice.png.result.json"
    result_path.write_text(json.dumps(result), encoding="utf-8")
    page = report.write_report(result_path, [original])
    assert page is not None

    dom = chromium(tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>invoice.png</title>" in dom.stdout  # the script did not run
    assert "Key facts" in dom.stdout and "720 × 200 pixels" in dom.stdout
    assert "Invoice 2041" in dom.stdout and "data:image/png;base64," in dom.stdout

    # The picture is drawn from the page itself: OCR of a screenshot reads it back.
    shot = tmp_path / "shot.png"
    done = chromium(
        tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1000,1300", page.as_uri()
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    from PIL import Image

    from processor import ocr

    with Image.open(shot) as image:
        read = ocr.recognize(image)
    if not read.get("available"):
        pytest.skip(f"no OCR here to read the screenshot: {read.get('reason')}")
    seen = read["text"]
    assert "Key facts" in seen and "Invoice 2041" in seen, seen
