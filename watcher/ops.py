"""``fpw status`` for a person and ``fpw check`` for CRON and monitoring systems.

Both read the same snapshot as the watcher's metrics and alerts. ``check``
follows the monitoring-plugin convention: one line ``FPW <STATE> - summary |
perfdata`` and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (AWS unreachable
or refusing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

from shared import presence
from shared.config import Settings
from shared.record import Job
from shared.table import JobTable
from watcher import snapshot


class Severity(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class Threshold:
    name: str
    warning: float
    critical: float
    unit: str = ""


def collect(table: JobTable, settings: Settings, now: dt.datetime) -> snapshot.Snapshot:
    """One consistent look at jobs and fetchers (two scans)."""
    jobs = list(table.scan())
    return snapshot.take(jobs, now, settings.watcher.stall_seconds, table.presences())


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _job(job: Job) -> str:
    return f"{job.file} (client {job.client[:15]}…, version {job.version})"


def render_status(snap: snapshot.Snapshot, deployment: str) -> str:
    """A page for a person: what is queued, working, stuck and failing (pure)."""
    now = snap.now
    lines = [f"fpw {deployment} at {now.strftime('%Y-%m-%d %H:%M:%S')} UTC", ""]
    lines.append("jobs      " + "   ".join(f"{k} {v}" for k, v in snap.counts.items()))
    if snap.oldest_queued is not None:
        lines.append(f"oldest    {_job(snap.oldest_queued)}, queued {_ago(snap.oldest_queued_age)}")
    else:
        lines.append("oldest    nothing queued")
    lines.append(
        f"last min  {snap.completed_last_minute} completed, {snap.errors_last_minute} errors"
    )
    lines += ["", f"stalled jobs ({len(snap.stalled)})"]
    for job in snap.stalled:
        beat = job.heartbeat or job.assigned or job.created
        lines.append(f"  {_job(job)}: holder {job.holder}, last heartbeat {beat}")
    working: dict[str, list[str]] = {}
    for job in snap.in_progress:
        working.setdefault(job.holder or "?", []).append(job.file)
    lines += ["", f"fetchers running ({len(snap.fetchers)})"]
    for fetcher in snap.fetchers:
        current = ", ".join(working.get(fetcher.holder, [])) or "idle"
        seen = (now - fetcher.seen).total_seconds()
        lines.append(
            f"  {fetcher.holder}  v{fetcher.version}  takes {fetcher.supports!r}"
            f"  seen {_ago(seen)} ago  {current}"
        )
    if snap.gone:
        silent = _ago(presence.GONE_SECONDS)
        lines += ["", f"fetchers gone, silent for over {silent} ({len(snap.gone)})"]
        for fetcher in snap.gone:
            held = ", ".join(working.get(fetcher.holder, []))
            lines.append(
                f"  {fetcher.holder}  v{fetcher.version}  last seen"
                f" {_ago((now - fetcher.seen).total_seconds())} ago  gone"
                + (f" (held {held}: requeued once stalled)" if held else "")
            )
    if snap.unsupported:
        versions = sorted({j.version for j in snap.unsupported})
        lines += [
            "",
            f"queued jobs no running fetcher supports ({len(snap.unsupported)}):"
            f" client versions {', '.join(versions)}",
        ]
    lines += ["", f"errors in the last hour ({len(snap.errors_last_hour)})"]
    for job in snap.errors_last_hour[:20]:
        lines.append(f"  {job.processed}  {job.file}: {job.error}")
    if len(snap.errors_last_hour) > 20:
        lines.append(f"  … and {len(snap.errors_last_hour) - 20} more")
    return "\n".join(lines)


def thresholds(
    queue: tuple[float, float],
    age: tuple[float, float],
    stalled: tuple[float, float],
    errors: tuple[float, float],
) -> list[Threshold]:
    return [
        Threshold("queued", *queue),
        Threshold("oldest_age", *age, unit="s"),
        Threshold("stalled", *stalled),
        Threshold("errors_1h", *errors),
    ]


def evaluate(snap: snapshot.Snapshot, limits: list[Threshold]) -> tuple[Severity, str]:
    """The plugin line and state for a snapshot (pure)."""
    values = {
        "queued": float(snap.queued),
        "oldest_age": round(snap.oldest_queued_age),
        "stalled": float(len(snap.stalled)),
        "errors_1h": float(len(snap.errors_last_hour)),
    }
    state = Severity.OK
    problems = []
    for limit in limits:
        value = values[limit.name]
        if value >= limit.critical:
            state = max(state, Severity.CRITICAL)
            problems.append(f"{limit.name} {value:g}{limit.unit} >= {limit.critical:g}")
        elif value >= limit.warning:
            state = max(state, Severity.WARNING)
            problems.append(f"{limit.name} {value:g}{limit.unit} >= {limit.warning:g}")
    summary = (
        f"{snap.queued} queued, oldest {snap.oldest_queued_age:.0f} s, {snap.in_flight} processing,"
        f" {len(snap.stalled)} stalled, {len(snap.errors_last_hour)} errors in the last hour"
    )
    if problems:
        summary = f"{'; '.join(problems)} ({summary})"
    perf = " ".join(
        f"{t.name}={values[t.name]:g}{t.unit};{t.warning:g};{t.critical:g};0" for t in limits
    )
    perf += f" processing={snap.in_flight}"
    return state, f"FPW {state.name} - {summary} | {perf}"
