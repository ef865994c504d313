"""Merged files left by a fetcher that died are removed by the next one to
start; those of fetchers still running are left alone, wherever they run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fetcher.scratch import Scratch
from tests.helpers import wait_for


def test_a_new_run_removes_what_dead_runs_left_and_nothing_of_live_ones(tmp_path: Path) -> None:
    # A live run in this process, and one in another process.
    here = Scratch(tmp_path, "processor-here")
    here.open()
    here.path("file-1").write_bytes(b"being merged")
    elsewhere = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from pathlib import Path
                from fetcher.scratch import Scratch
                run = Scratch(Path({str(tmp_path)!r}), "processor-there")
                run.open()
                run.path("file-2").write_bytes(b"being merged elsewhere")
                time.sleep(60)
                """
            ),
        ]
    )
    try:
        there = Scratch(tmp_path, "processor-there").path("file-2")
        wait_for(there.exists, what="the other run's file")
        # A run killed mid-job: its lock file and its merged file, no process.
        dead = Scratch(tmp_path, "processor-dead")
        dead.open()
        dead.path("file-3").write_bytes(b"half merged")
        dead.path("file-4").write_bytes(b"half merged too")
        assert dead._lock_fd is not None
        os.close(dead._lock_fd)  # what the kernel does when a process dies

        removed = Scratch(tmp_path, "processor-new").open()

        assert sorted(p.name for p in removed) == [
            "file-3.processor-dead.data",
            "file-4.processor-dead.data",
        ]
        assert here.path("file-1").exists() and there.exists()
        assert not (tmp_path / ".processor-dead.lock").exists()
        assert (tmp_path / ".processor-there.lock").exists()
    finally:
        elsewhere.kill()
        elsewhere.wait()
        here.close()
    assert not (tmp_path / ".processor-here.lock").exists(), "a run that ends removes its lock"


def test_merged_files_are_plain_names_in_the_folder(tmp_path: Path) -> None:
    path = Scratch(tmp_path, "processor-1").path("file-9")
    assert path.parent == tmp_path and "/" not in path.name and path.name.endswith(".data")
