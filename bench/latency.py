"""Latency from a file complete in the watched folder to its decrypted result on disk.

Parts: the local stack, one fetcher process (``fpw fetcher``), the instant
processor (``bench.instant``) and the desktop agent that ``fpw client
--headless`` runs, in this process so that its events can be timed. Every
setting is the shipped default. Files of 100 KB of text are written straight
into the watched folder one at a time (the next once the last result is on
disk); the clock starts when the writer closes the file.

The phases come from three clocks on the same machine: the agent's events
(taken, staged, uploaded, result seen, result saved), the job record's
timestamps (``assigned``, ``downloaded``) and the fetcher's structured log
(time spent in the processor and in encrypting and writing the result).
They follow each other, so the phases add up to the total.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.common import (
    Context,
    Outcome,
    json_lines,
    median,
    percentile,
    say,
    start_fetcher,
    start_instant_processor,
    verdict,
)
from bench.data import Text

if TYPE_CHECKING:
    from pathlib import Path

    from client.agent import Agent
    from client.engine import Event
    from infra.localstack import LocalStack
    from shared.config import Settings

P50_TARGET = 1.0
P95_TARGET = 2.0
FILE_BYTES = 100 * 1000
PHASES = (
    "detect/settle",
    "prepare",
    "upload",
    "queue wait/claim",
    "download+verify",
    "processing",
    "encrypt+write back",
    "client notices result",
    "download+decrypt",
)


class Timeline:
    """The agent's events by file name, each with the time it happened."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, dict[str, float]] = {}
        self.ids: dict[str, str] = {}
        self.finished = threading.Condition(self.lock)

    def on_event(self, event: Event) -> None:
        from client.state import Phase

        now = time.time()
        with self.lock:
            marks = self.seen.setdefault(event.name, {})
            self.ids[event.name] = event.file_id
            if event.phase is Phase.WAITING and event.detail == "downloading the result":
                marks.setdefault("notice", now)
            else:
                marks.setdefault(event.phase.value, now)
            if event.phase.finished:
                self.finished.notify_all()

    def wait(self, name: str, timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not {"DONE", "FAILED"} & set(self.seen.get(name, {})):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"latency: no result for {name} within {timeout:.0f} s")
                self.finished.wait(left)
            marks = dict(self.seen[name])
        if "FAILED" in marks:
            raise SystemExit(f"latency: {name} failed")
        return marks


@dataclass
class Sample:
    """One file's moments, in seconds since the epoch (the fetcher's are durations)."""

    dropped: float
    taken: float
    staged: float
    uploaded: float
    assigned: float
    downloaded: float
    analyze: float
    deliver: float
    notice: float
    done: float

    def phases(self) -> dict[str, float]:
        """Consecutive intervals of the timeline: they add up to the total."""
        analyzed = self.downloaded + self.analyze
        written = analyzed + self.deliver
        points = [
            self.dropped,
            self.taken,
            self.staged,
            self.uploaded,
            self.assigned,
            self.downloaded,
            analyzed,
            written,
            self.notice,
            self.done,
        ]
        return {name: b - a for name, a, b in zip(PHASES, points[:-1], points[1:], strict=True)}

    @property
    def total(self) -> float:
        return self.done - self.dropped


def fetcher_durations(log: str) -> dict[str, dict[str, float]]:
    """Seconds per phase of each completed job, from the fetcher's structured log."""
    found: dict[str, dict[str, float]] = {}
    for entry in json_lines(log):
        if str(entry.get("msg", "")).startswith("completed") and "durations_ms" in entry:
            found[str(entry["job"])] = {k: v / 1000 for k, v in entry["durations_ms"].items()}
    return found


def run(ctx: Context) -> Outcome:
    from infra.up import System
    from shared.aws import Aws
    from shared.record import parse_iso
    from shared.table import JobTable

    count = ctx.pick(10, 100)
    warm_up = 3
    stack = ctx.stack()
    home = ctx.folder("latency")
    system = System(stack, home / "system")
    agent = None
    moments: list[tuple[str, dict[str, float], float, float]] = []
    try:
        start_instant_processor(system)
        fetcher = start_fetcher(
            system,
            "fetcher-1",
            {"processor_url": system.processor_url, "work_dir": str(home / "work")},
        )
        agent, timeline = start_agent(stack, stack, home, "bench latency")
        settings = agent.settings
        wait_for_reader(fetcher.output, fetcher.alive)
        table = JobTable(
            Aws(stack.admin_settings(), "bench-admin").dynamodb, stack.outputs["JobsTable"]
        )
        text = Text(seed=7)
        # Random pauses between files: drops independent of each other and of
        # the parts' polling timers, whose phase would otherwise lock in.
        pauses = random.Random(7)
        say(f"latency: {warm_up} warm-up files, then {count} measured, one at a time")
        for n in range(warm_up + count):
            time.sleep(pauses.uniform(0.2, 0.7))
            name = f"letter-{n:03d}.txt"
            with (settings.client.inbox / name).open("wb") as fh:
                fh.write(text.block(FILE_BYTES))
            dropped = time.time()
            marks = timeline.wait(name, 60)
            if n < warm_up:
                continue
            job = table.get(timeline.ids[name])
            assert job is not None and job.assigned and job.downloaded
            moments.append(
                (
                    job.file,
                    {**marks, "dropped": dropped},
                    parse_iso(job.assigned).timestamp(),
                    parse_iso(job.downloaded).timestamp(),
                )
            )
    finally:
        if agent is not None:
            agent.stop()
        system.stop()
    durations = fetcher_durations(fetcher.output())
    samples = [
        Sample(
            dropped=marks["dropped"],
            taken=marks["STAGING"],
            staged=marks["UPLOADING"],
            uploaded=marks["WAITING"],
            assigned=assigned,
            downloaded=downloaded,
            analyze=durations[file_id]["analyze"],
            deliver=durations[file_id]["deliver"],
            notice=marks["notice"],
            done=marks["DONE"],
        )
        for file_id, marks, assigned, downloaded in moments
    ]
    return summarize(samples, settings)


def start_agent(
    client_stack: LocalStack, admin_stack: LocalStack, home: Path, label: str
) -> tuple[Agent, Timeline]:
    """A registered desktop agent in-process, watching ``home/inbox``, its events timed.

    ``client_stack`` is the stack as the client sees it (through a counting
    proxy, say); ``admin_stack`` registers the client's key.
    """
    from client.agent import Agent
    from infra.admin import register_client
    from shared.config import Settings
    from shared.keys import load_or_create_key

    settings = Settings()
    settings.aws = client_stack.role_settings("client")
    settings.client.inbox = home / "inbox"
    settings.client.state_dir = home / "state"
    agent = Agent(settings, key=load_or_create_key(settings.client.state_dir))
    register_client(admin_stack.admin_settings(), agent.client_id, label)
    timeline = Timeline()
    agent.engine.add_listener(timeline.on_event)
    agent.start()
    return agent, timeline


def wait_for_reader(output: Callable[[], str], alive: Callable[[], bool]) -> None:
    """The fetcher is ready once it holds the stream lease (its first read follows)."""
    deadline = time.monotonic() + 60
    while "reading the job stream" not in output():
        if time.monotonic() > deadline or not alive():
            raise SystemExit(f"latency: the fetcher did not start:\n{output()[-2000:]}")
        time.sleep(0.2)
    time.sleep(2.0)


def summarize(samples: list[Sample], settings: Settings) -> Outcome:
    totals = [s.total for s in samples]
    p50, p95 = percentile(totals, 50), percentile(totals, 95)
    phases = {
        name: {
            "median_ms": round(median([s.phases()[name] for s in samples]) * 1000),
            "p95_ms": round(percentile([s.phases()[name] for s in samples], 95) * 1000),
        }
        for name in PHASES
    }
    met = p50 < P50_TARGET and p95 < P95_TARGET
    cs, fs = settings.client, settings.fetcher
    figures: dict[str, object] = {
        "files": len(samples),
        "file_bytes": FILE_BYTES,
        "p50_s": round(p50, 3),
        "p95_s": round(p95, 3),
        "max_s": round(max(totals), 3),
        "phases": phases,
        "settings": {
            "client.stable_seconds": cs.stable_seconds,
            "client.poll_seconds": cs.poll_seconds,
            "fetcher.poll_seconds": fs.poll_seconds,
            "fetcher.stream_poll_seconds": fs.stream_poll_seconds,
        },
    }
    headline = (
        f"latency {len(samples)} × 100 KB: p50 {p50:.2f} s, p95 {p95:.2f} s"
        f" (target p50 < {P50_TARGET:.0f} s, p95 < {P95_TARGET:.0f} s: {verdict(met)})"
    )
    return Outcome("latency", headline, figures, met)
