"""Chaos: a fleet of fetchers and the watcher killed (SIGKILL) and restarted on
a seeded random schedule while a client sends a few hundred files.

Every job must end COMPLETED exactly once, with its result delivered to the
client once and decrypted to what the processor said about the original,
and no chunk may be left in the bucket. A job whose holder was killed is
reaped by the watcher and run again: that is a retry (one more claim, maybe
one more processor call), never a duplicate. A duplicate is a second
COMPLETED write-back (counted from the table's stream) or a second result
delivered (counted in the client's results folder).

``CHAOS_JOBS``, ``CHAOS_FETCHERS``, ``CHAOS_KILL_SECONDS`` (mean time between
kills) and ``CHAOS_SEED`` scale it up; docs/testing.md has a larger setting.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from client.engine import Engine
from client.state import Phase
from infra.local.stack import LocalStack
from infra.local.up import Part, System
from shared.record import Status
from shared.table import JobTable
from tests import samples
from tests.helpers import scaled, wait_for
from tests.ledger import RecordingProcessor, Tally, admin, chunks_left, completions

JOBS = int(os.environ.get("CHAOS_JOBS", "200"))
FETCHERS = int(os.environ.get("CHAOS_FETCHERS", "4"))
KILL_SECONDS = float(os.environ.get("CHAOS_KILL_SECONDS", "2.0"))
SEED = int(os.environ.get("CHAOS_SEED", "20240611"))
# Each analysis takes this long, so that a kill often finds a job in hand.
ANALYSIS_SECONDS = 0.4
# Short enough that a killed holder's job is reaped within the test, long
# enough that a busy two-core machine does not starve a live holder's beat.
HEARTBEAT_SECONDS = 0.5
STALL_SECONDS = 4.0
# Kills must not end a job in ERROR: that would hide what this test looks for.
MAX_ATTEMPTS = 50


class Chaos:
    """Kills a random part now and then and starts it again a little later."""

    def __init__(self, system: System, seed: int, mean_seconds: float) -> None:
        self.system = system
        self.random = random.Random(seed)
        self.mean = mean_seconds
        self.kills: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start_fetcher(self, name: str) -> Part:
        return self.system.start_fetcher(
            name,
            heartbeat_seconds=HEARTBEAT_SECONDS,
            poll_seconds=0.5,
            lease_seconds=6.0,
            groups={"watcher": {"max_attempts": MAX_ATTEMPTS}},
        )

    def start_watcher(self) -> Part:
        return self.system.start_watcher(
            stall_seconds=STALL_SECONDS,
            interval_seconds=1.0,
            max_attempts=MAX_ATTEMPTS,
            metrics=False,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=scaled(30))

    def _run(self) -> None:
        names = [*(f"chaos-{n}" for n in range(FETCHERS)), "watcher"]
        while not self.stopping.wait(self.random.uniform(0.5, 1.5) * self.mean):
            victim = self.random.choice(names)
            part = self.system.parts[victim]
            part.kill()  # SIGKILL: no shutdown, no give-back, no last heartbeat
            part.stop()  # closes its log
            self.kills[victim] += 1
            self.stopping.wait(self.random.uniform(0.2, 1.5))
            if victim == "watcher":
                self.start_watcher()
            else:
                self.start_fetcher(victim)


@pytest.mark.slow  # about 100 s on two cores
@pytest.mark.timeout(max(480, JOBS * 3))
def test_killed_fetchers_and_watchers_lose_no_job_and_do_none_twice(
    stack: LocalStack, engine: Engine, tmp_path: Path
) -> None:
    recorder = RecordingProcessor(seconds=ANALYSIS_SECONDS)
    system = System(stack, tmp_path / "chaos")
    system.processor_url = recorder.url
    chaos = Chaos(system, SEED, KILL_SECONDS)
    stop_client = threading.Event()
    client = threading.Thread(target=engine.run, args=(stop_client.is_set,), daemon=True)
    sizes = random.Random(SEED)
    digests: dict[str, str] = {}
    try:
        for n in range(FETCHERS):
            chaos.start_fetcher(f"chaos-{n}")
        chaos.start_watcher()
        started = time.monotonic()
        chaos.start()
        client.start()
        for n in range(JOBS):
            path = tmp_path / "files" / f"job {n:04}.txt"
            path.parent.mkdir(exist_ok=True)
            samples.make_text(path, f"job {n}\n" * sizes.randint(1, 20_000))
            file_id = engine.submit(path, {})
            assert file_id
            digests[file_id] = hashlib.sha256(path.read_bytes()).hexdigest()
        wait_for(
            lambda: all(
                (d := engine.state.get(f)) is not None and d.phase.finished for f in digests
            ),
            timeout=max(300, JOBS * 1.5),
            interval=1.0,
            what=f"{JOBS} results",
        )
        took = time.monotonic() - started
        chaos.stop()
        for name, part in list(system.parts.items()):  # whatever was down comes back
            if not part.alive():
                (chaos.start_watcher if name == "watcher" else chaos.start_fetcher)(name)  # type: ignore[operator]
        wait_for(lambda: not chunks_left(stack, engine.client_id, digests), timeout=60)
        # A fetcher killed mid-job leaves its merged file; its next run removes it.
        scratch = [p for n in range(FETCHERS) for p in (system.home / f"chaos-{n}").glob("*")]
    finally:
        chaos.stop()
        stop_client.set()
        client.join(timeout=scaled(10))
        system.stop()
        recorder.close()

    drops = {f: engine.state.get(f) for f in digests}
    failed = {f: d.error for f, d in drops.items() if d is None or d.phase is not Phase.DONE}
    assert not failed, failed
    table = JobTable(admin(stack).dynamodb, stack.outputs["JobsTable"])
    jobs = {f: table.get(f) for f in digests}
    assert all(j is not None and j.status is Status.COMPLETED for j in jobs.values())
    attempts = {f: j.attempts for f, j in jobs.items() if j is not None}
    written = completions(stack, digests)
    delivered = Counter(
        path.name.split(".result.")[0] for path in engine.places.results.glob("*.result.*")
    )
    for file_id, digest in digests.items():
        drop = drops[file_id]
        assert drop is not None and drop.result_path is not None
        result = json.loads(drop.result_path.read_text(encoding="utf-8"))
        assert result["sha256"] == digest, f"{file_id}: the result of another file"
    calls = recorder.calls
    assert all(1 <= calls[f] <= attempts[f] for f in digests), {
        f: (calls[f], attempts[f]) for f in digests if not 1 <= calls[f] <= attempts[f]
    }
    tally = Tally(
        jobs=len(digests),
        completed=sum(1 for j in jobs.values() if j is not None and j.status is Status.COMPLETED),
        retries=sum(a - 1 for a in attempts.values()),
        duplicates=sum(written[f] - 1 for f in digests if written[f] > 1)
        + sum(n - 1 for n in delivered.values() if n > 1),
        leftovers=len(chunks_left(stack, engine.client_id, digests)),
        calls=sum(calls[f] for f in digests),
    )
    print(
        f"chaos: {tally.line(kills=sum(chaos.kills.values()), seed=SEED, seconds=round(took))}"
        f" kills_by_part={dict(chaos.kills)}"
    )
    assert all(written[f] == 1 for f in digests), "one COMPLETED write-back per job"
    assert len(delivered) == JOBS and set(delivered.values()) == {1}
    assert tally.duplicates == 0 and tally.leftovers == 0
    assert not [p for p in scratch if p.name.endswith(".data")], scratch
    # SIGKILL leaves no traceback: one in a log is a part that failed on its own.
    crashed = [
        p.name
        for p in (system.home / "logs").glob("*.log")
        if "Traceback" in p.read_text(errors="replace")
    ]
    assert not crashed, f"a part failed on its own: see {crashed}"
    assert sum(chaos.kills.values()) >= 5, "the schedule killed parts while jobs ran"
    assert tally.retries > 0, "some holder died with a job in hand, and its job was run again"
