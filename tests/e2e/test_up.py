"""``fpw up``: the README's first command, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests import samples
from tests.helpers import wait_for


@pytest.mark.timeout(180)
def test_fpw_up_runs_the_whole_system_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up", "--fetchers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        inbox = tmp_path / "inbox"
        wait_for(
            lambda: any("Drop files into" in line for line in lines),
            timeout=90,
            what="fpw up to announce the inbox",
        )
        assert inbox.is_dir()
        assert any(str(inbox / "results") in line for line in lines)
        staging = tmp_path / "staging"
        staging.mkdir()
        samples.make_text(staging / "größe 1.txt", "a b c d\n")
        (staging / "größe 1.txt").rename(inbox / "größe 1.txt")
        result = wait_for(
            lambda: next((inbox / "results").glob("größe 1.txt.result.json"), None),
            timeout=60,
            what="the result",
        )
        assert json.loads(result.read_text(encoding="utf-8"))["analysis"]["words"] == 4

        # `fpw submit` in the same folder finds the running system by itself.
        file = tmp_path / "one more.txt"
        samples.make_text(file, "x y\n")
        submit = subprocess.run(
            [sys.executable, "-m", "shared.cli", "submit", str(file), "--wait", "--timeout", "60"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert submit.returncode == 0, submit.stderr
        assert json.loads(submit.stdout)["analysis"]["words"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        reader.join(timeout=5)
    assert code == 0, "".join(lines[-40:])
    assert any("stopped." in line for line in lines)
    assert not (tmp_path / ".fpw" / "config.toml").exists()
