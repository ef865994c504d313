"""Latency from a file complete in the watched folder to its decrypted result on disk.

Parts: the local stack, one fetcher process (``fpw fetcher``), the instant
processor (``bench.instant``) and the desktop agent that ``fpw client
--headless`` runs, in this process so that its events can be timed; or, with
``--fleet containers``, the back end in its images (``bench/fleets.py``). Every
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
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.common import (
    Context,
    Outcome,
    json_lines,
    median,
    percentile,
    say,
    start_agent_with,
    verdict,
    wait_for_reader,
)
from bench.data import Text

if TYPE_CHECKING:
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
    from bench.fleets import start_fleet
    from shared.aws import Aws
    from shared.record import parse_iso
    from shared.table import JobTable

    count = ctx.pick(10, 100)
    warm_up = 3
    home = ctx.folder("latency")
    fleet = start_fleet(ctx, home)  # processes or containers (bench/fleets.py)
    agent = None
    moments: list[tuple[str, dict[str, float], float, float]] = []
    try:
        agent, timeline = start_agent_with(fleet.client, fleet.admin, home, "bench latency")
        settings = agent.settings
        wait_for_reader(fleet.fetcher_output, fleet.fetcher_alive)
        table = JobTable(Aws(fleet.admin, "bench-admin").dynamodb, fleet.admin.table)
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
        fleet.stop()
    durations = fetcher_durations(fleet.fetcher_output())
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
