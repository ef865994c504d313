"""Latency from a file complete in the watched folder to its decrypted result on disk.

Parts: the local stack, one fetcher process (``fpw fetcher``), the instant
processor (``bench.instant``) and the desktop agent that ``fpw client
--headless`` runs, in this process so that its events can be timed; or, with
``--fleet containers``, the back end in its images (``bench/fleets.py``). Files of
100 KB of text are moved into the watched folder whole (written beside it,
then renamed in, as downloads, sync clients and save-by-rename editors do),
one at a time (the next once the last result is on disk); the clock starts at
the rename. A file written in place is taken only once it has kept its size
and mtime for ``client.stable_seconds`` (a close does not end the wait: an
appender closes between bursts), so a few such files are timed too.

The same run measures the same drops under the settings of before the
adaptive waits (``BEFORE``: fixed result poll and stream read intervals,
the longer settle of a moved file and first wait for a chunk) and under the
shipped defaults, in turn (before, after, before), each with its own parts
(the container fleet: the defaults only, files moved in).

The phases come from three clocks on the same machine: the agent's events
(taken, staged, uploaded, result seen, result saved), the job record's
timestamps (``assigned``, ``downloaded``) and the fetcher's structured log
(time spent in the processor and in encrypting and writing the result).
They follow each other, so the phases add up to the total.
"""

from __future__ import annotations

import dataclasses
import os
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
    from pathlib import Path

    from shared.config import Settings

P50_TARGET = 0.5
P95_TARGET = 0.8
FILE_BYTES = 100 * 1000


@dataclass(frozen=True)
class Mode:
    """One measurement: how files are dropped and the settings that differ from the defaults."""

    label: str
    moved: bool
    """Renamed into the folder whole (else written in place)."""
    client: dict[str, object]
    fetcher: dict[str, object]


BEFORE_CLIENT: dict[str, object] = {"fast_poll_seconds": 0.0, "moved_settle_seconds": 0.2}
BEFORE_FETCHER: dict[str, object] = {
    "stream_fast_poll_seconds": 0.0,
    "chunk_retry_seconds": 0.2,
    "peek_hinted_jobs": True,
    "stream_describe_seconds": 0.0,
}
BEFORE = Mode("before", True, BEFORE_CLIENT, BEFORE_FETCHER)
AFTER = Mode("after", True, {}, {})
IN_PLACE = Mode("after, written in place", False, {}, {})
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
    """Before and after in the same run, in the order before, after, after, before (the
    halves of each), so that a load that drifts during the run weighs on both alike;
    then a few files written in place."""
    half = ctx.pick(5, 50)
    schedule: tuple[tuple[Mode, int], ...] = (
        (BEFORE, half),
        (AFTER, 2 * half),
        (BEFORE, half),
        (IN_PLACE, ctx.pick(5, 20)),
    )
    if ctx.fleet == "containers":
        schedule = ((AFTER, 2 * half),)
    samples: dict[str, list[Sample]] = {}
    loads: dict[str, list[float]] = {}
    used: dict[str, tuple[Mode, Settings]] = {}
    for mode, files in schedule:
        load = os.getloadavg()[0]
        found, settings = measure(ctx, mode, files)
        samples.setdefault(mode.label, []).extend(found)
        loads.setdefault(mode.label, []).extend([round(load, 2), round(os.getloadavg()[0], 2)])
        used[mode.label] = (mode, settings)
    results = {}
    for label, (mode, settings) in used.items():
        results[label] = summarize(samples[label], mode, settings)
        results[label].figures["load_1min"] = loads[label]
    return compare(results)


def drop(inbox: Path, beside: Path, name: str, data: bytes, moved: bool) -> float:
    """Put one file in the folder; returns the moment it is complete there."""
    if not moved:
        with (inbox / name).open("wb") as fh:
            fh.write(data)
        return time.time()
    staged = beside / name
    with staged.open("wb") as fh:
        fh.write(data)
    staged.rename(inbox / name)
    return time.time()


def measure(ctx: Context, mode: Mode, count: int) -> tuple[list[Sample], Settings]:
    from bench.fleets import start_fleet
    from shared.aws import Aws
    from shared.record import parse_iso
    from shared.table import JobTable

    warm_up = 3
    home = ctx.folder(f"latency-{mode.label.split(',')[0]}-{int(mode.moved)}")
    beside = home / "beside"
    beside.mkdir()
    fleet = start_fleet(ctx, home, mode.fetcher)  # processes or containers (bench/fleets.py)
    agent = None
    moments: list[tuple[str, dict[str, float], float, float]] = []
    try:
        agent, timeline = start_agent_with(
            fleet.client, fleet.admin, home, "bench latency", mode.client
        )
        settings = agent.settings
        wait_for_reader(fleet.fetcher_output, fleet.fetcher_alive)
        table = JobTable(Aws(fleet.admin, "bench-admin").dynamodb, fleet.admin.table)
        text = Text(seed=7)
        # Random pauses between files: drops independent of each other and of
        # the parts' polling timers, whose phase would otherwise lock in.
        pauses = random.Random(7)
        how = "moved in" if mode.moved else "written in place"
        say(f"latency, {mode.label}: {warm_up} warm-up files, then {count} {how}, one at a time")
        for n in range(warm_up + count):
            time.sleep(pauses.uniform(0.2, 0.7))
            name = f"letter-{n:03d}.txt"
            dropped = drop(settings.client.inbox, beside, name, text.block(FILE_BYTES), mode.moved)
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
    return samples, settings


def summarize(samples: list[Sample], mode: Mode, settings: Settings) -> Outcome:
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
    cs = settings.client
    fs = dataclasses.replace(settings.fetcher, **mode.fetcher)  # type: ignore[arg-type]
    figures: dict[str, object] = {
        "files": len(samples),
        "file_bytes": FILE_BYTES,
        "dropped": "moved in" if mode.moved else "written in place",
        "p50_s": round(p50, 3),
        "p95_s": round(p95, 3),
        "max_s": round(max(totals), 3),
        "phases": phases,
        "settings": {
            "client.stable_seconds": cs.stable_seconds,
            "client.moved_settle_seconds": cs.moved_settle_seconds,
            "client.poll_seconds": cs.poll_seconds,
            "client.fast_poll_seconds": cs.fast_poll_seconds,
            "client.fast_poll_window_seconds": cs.fast_poll_window_seconds,
            "fetcher.poll_seconds": fs.poll_seconds,
            "fetcher.stream_poll_seconds": fs.stream_poll_seconds,
            "fetcher.stream_fast_poll_seconds": fs.stream_fast_poll_seconds,
            "fetcher.stream_busy_seconds": fs.stream_busy_seconds,
            "fetcher.chunk_retry_seconds": fs.chunk_retry_seconds,
            "fetcher.peek_hinted_jobs": fs.peek_hinted_jobs,
            "fetcher.stream_describe_seconds": fs.stream_describe_seconds,
        },
    }
    headline = f"{len(samples)} × 100 KB: p50 {p50:.2f} s, p95 {p95:.2f} s"
    return Outcome("latency", headline, figures, met)


def compare(results: dict[str, Outcome]) -> Outcome:
    """One outcome for the run: the defaults against the settings of before, the
    phase table of each, and the files written in place beside them."""
    after = results[AFTER.label]
    labels = list(results)
    rows = [
        "phase (median / p95 ms) | " + " | ".join(labels),
        *(
            f"{name} | "
            + " | ".join(
                "{median_ms} / {p95_ms}".format(**results[label].figures["phases"][name])
                for label in labels
            )
            for name in PHASES
        ),
        "total p50 / p95 (s) | "
        + " | ".join(
            f"{results[label].figures['p50_s']:.3f} / {results[label].figures['p95_s']:.3f}"
            for label in labels
        ),
    ]
    print("\n".join(rows), flush=True)
    met = bool(after.met)
    headline = f"latency, files moved in, {after.headline}"
    before = results.get(BEFORE.label)
    if before is not None:
        ratio = before.figures["p50_s"] / max(after.figures["p50_s"], 1e-9)
        headline += f" (before: {before.headline}; p50 {ratio:.2f}× faster)"
    if IN_PLACE.label in results:
        headline += f"; written in place: {results[IN_PLACE.label].headline}"
    headline += f" (target p50 < {P50_TARGET} s, p95 < {P95_TARGET} s: {verdict(met)})"
    figures = {label: outcome.figures for label, outcome in results.items()}
    return Outcome("latency", headline, figures, met)
