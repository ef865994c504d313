"""``fpw up --containers``: the back end from its images, a desktop agent on this host."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from infra.release.images import ContainerEngine
from tests import samples
from tests.helpers import launch_fpw, wait_for


def test_a_dropped_file_comes_back_as_a_result(
    engine: ContainerEngine, image: Callable[..., str], tmp_path: Path
) -> None:
    for part in ("stack", "processor", "fetcher", "watcher"):
        image(part)  # built here, so that fpw up only starts them
    launched = launch_fpw(tmp_path, "up", "--containers", "--fetchers", "1")
    proc, lines, reader = launched.proc, launched.lines, launched.reader
    try:
        wait_for(
            lambda: any("Drop files into" in line for line in lines) or proc.poll() is not None,
            timeout=300,
            what="fpw up --containers to announce the inbox",
        )
        assert proc.poll() is None, "".join(lines[-40:])
        inbox = tmp_path / "inbox"
        staging = tmp_path / "staging"
        staging.mkdir()
        samples.make_text(staging / "drop.txt", "four words in here\n")
        (staging / "drop.txt").rename(inbox / "drop.txt")
        result = wait_for(
            lambda: next((inbox / "results").glob("drop.txt.result.json"), None),
            timeout=180,
            what="the result",
        )
        assert json.loads(result.read_text(encoding="utf-8"))["analysis"]["words"] == 4
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=180)
        reader.join(timeout=5)
    assert code == 0, "".join(lines[-40:])
    assert any("stopped." in line for line in lines)
    left = engine.run("ps", "--all", "--format", "{{.Names}}").stdout
    names = [line for line in lines if "fpw is running in containers" in line]
    assert names
    prefix = names[0].split("(")[1].split("-*")[0]
    assert prefix not in left
