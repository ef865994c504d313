"""Load: a thousand small files dropped at once into one desktop's watched
folder (``fpw client --headless``, a process of its own) all come back, each
once, and the client's memory stays bounded while it holds them all.

``LOAD_FILES`` scales it up (docs/testing.md). The bound on the client's
peak resident memory (VmHWM) is ``MEMORY_BOUND_MIB``: about 90 MiB were
measured for 1,000 files; the bound leaves room for other platforms'
libraries, not for memory that grows with the number of files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from infra.local.stack import LocalStack
from infra.local.up import Part, System
from shared.table import JobTable
from tests import samples
from tests.helpers import wait_for
from tests.ledger import RecordingProcessor, admin, completions

FILES = int(os.environ.get("LOAD_FILES", "1000"))
MEMORY_BOUND_MIB = 250


def peak_memory_mib(part: Part) -> float:
    """The process's peak resident memory (VmHWM), from the kernel."""
    status = Path(f"/proc/{part.proc.pid}/status").read_text(encoding="utf-8")
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.mark.slow  # three and a half to seven minutes on two cores
@pytest.mark.timeout(max(420, FILES * 1.0))
def test_a_thousand_files_dropped_at_once_all_come_back_once_in_bounded_memory(
    stack: LocalStack, tmp_path: Path
) -> None:
    recorder = RecordingProcessor()
    system = System(stack, tmp_path / "load")
    system.processor_url = recorder.url
    inbox, state_dir = tmp_path / "inbox", tmp_path / "client-state"
    results, done = inbox / "results", inbox / "done"
    try:
        me = system.register_client(state_dir)
        config = system.client_config(inbox, state_dir, upload_concurrency=8)
        for n in range(2):
            system.start_fetcher(f"load-{n}", poll_seconds=0.5)
        client = system.start_client(config)
        wait_for(lambda: "client id" in client.output() or not client.alive(), what="the client")
        staging = tmp_path / "staging"
        staging.mkdir()
        digests: dict[str, str] = {}
        for n in range(FILES):
            path = staging / f"note {n:04}.txt"
            samples.make_text(path, f"note number {n}\n" * (1 + n % 50))
            digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        started = time.monotonic()
        inbox.mkdir(exist_ok=True)
        for path in staging.iterdir():
            path.rename(inbox / path.name)

        def collected() -> int:
            if not client.alive():
                raise AssertionError(f"the client died:\n{client.output()[-3000:]}")
            return len(list(results.glob("*.result.json"))) if results.exists() else 0

        wait_for(
            lambda: collected() >= FILES,
            timeout=max(360, FILES * 0.8),
            interval=2.0,
            what="every result",
        )
        took = time.monotonic() - started
        peak = peak_memory_mib(client)

        # The same file dropped again is a new drop, processed once more.
        shutil.copy2(done / "note 0007.txt", inbox / "note 0007.txt")
        wait_for(lambda: collected() == FILES + 1, timeout=60, what="the second drop's result")
    finally:
        system.stop()
        recorder.close()

    for name, digest in digests.items():
        result = json.loads((results / f"{name}.result.json").read_text(encoding="utf-8"))
        assert result["sha256"] == digest, name
    assert len(list(results.glob("note 0007*.result.json"))) == 2
    assert not [p for p in inbox.iterdir() if p.is_file()], "every original moved to done/"
    assert len(list(done.iterdir())) == FILES + 1
    jobs = list(JobTable(admin(stack).dynamodb, stack.outputs["JobsTable"]).of_client(me))
    assert len(jobs) == FILES + 1, "one job per drop"
    written = completions(stack, [j.file for j in jobs])
    assert sorted(set(written.values())) == [1] and len(written) == FILES + 1
    assert all(recorder.calls[j.file] == 1 for j in jobs)
    print(
        f"load: files={FILES} seconds={took:.0f} files_per_second={FILES / took:.1f}"
        f" client_peak_rss_mib={peak:.0f} bound_mib={MEMORY_BOUND_MIB}"
    )
    assert peak < MEMORY_BOUND_MIB, f"the client peaked at {peak:.0f} MiB"
