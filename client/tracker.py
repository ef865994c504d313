"""What the faces show about each job, built from engine events (pure, no I/O).

The engine reports phases and step progress; the jobs window wants one bar
that moves through upload, queue, processing and download, and the tray
wants one word for everything. Both are worked out here, without Qt, so
that the rules are tested on plain values.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from client.events import Event
from client.state import Drop, Phase

# Where each step sits on the job's single progress bar (percent).
UPLOAD = (2.0, 45.0)
QUEUED = 50.0
PROCESSING = (55.0, 90.0)
DOWNLOADING = 95.0


@dataclass(frozen=True)
class JobView:
    """One row of the jobs window."""

    file_id: str
    name: str
    phase: Phase
    stage: str
    """What is happening now, in words (uploading, queued, processing 40 %...)."""
    progress: float
    """0..100 over the whole life of the job."""
    size: int | None = None
    path: Path | None = None
    created: float | None = None
    finished: float | None = None
    error: str | None = None
    result_path: Path | None = None
    seen: bool = True
    """False for a failure the user has not looked at yet (the tray shows it)."""
    steps: tuple[tuple[str, float], ...] = ()
    """(step, when it began) as this run of the agent saw them: upload, queue,
    processing, download; empty for a job finished before it started."""


def overall(phase: Phase, status: str | None, step: float | None, before: float) -> float:
    """The bar's position; it never moves back within one job."""
    if phase is Phase.STAGING:
        value = UPLOAD[0]
    elif phase is Phase.UPLOADING:
        value = UPLOAD[0] + (UPLOAD[1] - UPLOAD[0]) * (step or 0.0) / 100.0
    elif phase is Phase.WAITING:
        if status == "PROCESSING":
            value = PROCESSING[0] + (PROCESSING[1] - PROCESSING[0]) * (step or 0.0) / 100.0
        else:
            value = {"COMPLETED": DOWNLOADING, "QUEUED": QUEUED}.get(status or "", UPLOAD[1])
    elif phase is Phase.DONE:
        value = 100.0
    else:
        value = before
    return max(before, min(100.0, value))


def stage_text(phase: Phase, status: str | None, step: float | None) -> str:
    if phase is Phase.STAGING:
        return "preparing"
    if phase is Phase.UPLOADING:
        return f"uploading {step:.0f} %" if step is not None else "uploading"
    if phase is Phase.WAITING:
        if status == "PROCESSING":
            return f"processing {step:.0f} %" if step is not None else "processing"
        words = {"COMPLETED": "downloading the result", "QUEUED": "queued"}
        return words.get(status or "", "waiting for processing")
    if phase is Phase.SUPERSEDED:
        return "replaced by a newer job"
    return "done" if phase is Phase.DONE else "failed"


def step_of(phase: Phase, status: str | None) -> str | None:
    """Which step a job is in: upload, queue, processing, download (None once finished)."""
    if phase in (Phase.STAGING, Phase.UPLOADING):
        return "upload"
    if phase is Phase.WAITING:
        return {"PROCESSING": "processing", "COMPLETED": "download"}.get(status or "", "queue")
    return None


def step_times(view: JobView) -> list[tuple[str, float]]:
    """How long each step took, in order of first use (a finished job's steps end
    when it did; a job requeued after a stall adds its second wait to the first)."""
    end = view.finished
    times: dict[str, float] = {}
    for (name, began), after in zip(view.steps, [*view.steps[1:], None], strict=True):
        until = after[1] if after is not None else end
        if until is None:
            break
        times[name] = times.get(name, 0.0) + max(0.0, until - began)
    return list(times.items())


def duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def status_line(view: JobView) -> str:
    """The jobs window's Status cell: what happens now; for a done job, how long
    each step took (a failure's reason has its own column)."""
    times = step_times(view)
    if view.phase is Phase.DONE and times:
        return "done: " + ", ".join(f"{name} {duration(s)}" for name, s in times)
    return view.stage


def from_drop(drop: Drop) -> JobView:
    """A row for a drop read from the state database (at start-up)."""
    return JobView(
        file_id=drop.file_id,
        name=drop.name,
        phase=drop.phase,
        stage=stage_text(drop.phase, None, None),
        progress=overall(drop.phase, None, None, 0.0),
        size=drop.job.size if drop.job else None,
        path=drop.path,
        created=drop.created,
        finished=drop.updated if drop.phase.finished else None,
        error=drop.error,
        result_path=drop.result_path,
    )


def apply(view: JobView | None, event: Event, now: float) -> JobView:
    """The row after ``event``."""
    if view is None:
        view = JobView(event.file_id, event.name, event.phase, "", 0.0, created=now)
    changes: dict[str, object] = {
        "phase": event.phase,
        "stage": stage_text(event.phase, event.status, event.progress),
        "progress": overall(event.phase, event.status, event.progress, view.progress),
    }
    step = step_of(event.phase, event.status)
    if step is not None and (not view.steps or view.steps[-1][0] != step):
        changes["steps"] = (*view.steps, (step, now))
    if event.phase is Phase.DONE:
        changes.update(finished=now, result_path=Path(event.detail) if event.detail else None)
    elif event.phase is Phase.FAILED:
        changes.update(finished=now, error=event.detail, seen=False)
    return dataclasses.replace(view, **changes)  # type: ignore[arg-type]


class TrayState(StrEnum):
    IDLE = "idle"
    UPLOADING = "uploading"
    WAITING = "waiting"
    ERROR = "error"
    PAUSED = "paused"
    OFFLINE = "offline"


def summary(views: list[JobView], paused: bool, offline: bool) -> tuple[TrayState, str]:
    """The tray's state and tooltip: the most urgent thing first."""
    sending = sum(1 for v in views if v.phase in (Phase.STAGING, Phase.UPLOADING))
    waiting = sum(1 for v in views if v.phase is Phase.WAITING)
    unseen = [v for v in views if v.phase is Phase.FAILED and not v.seen]
    if paused:
        text = "paused"
        if sending:
            text += f" ({_files(sending)} not sent yet)"
        return TrayState.PAUSED, text
    if offline:
        return TrayState.OFFLINE, "offline: will retry when the network is back"
    if unseen:
        last = unseen[-1]
        return TrayState.ERROR, f"{_files(len(unseen))} failed; last: {last.name}: {last.error}"
    if sending:
        return TrayState.UPLOADING, f"uploading {_files(sending)}"
    if waiting:
        return TrayState.WAITING, f"waiting for results ({_files(waiting)})"
    return TrayState.IDLE, "idle"


def counts(views: list[JobView]) -> str:
    """The tooltip's second line: how many files are being sent, waited for, failed."""
    sending = sum(1 for v in views if v.phase in (Phase.STAGING, Phase.UPLOADING))
    waiting = sum(1 for v in views if v.phase is Phase.WAITING)
    failed = sum(1 for v in views if v.phase is Phase.FAILED)
    return f"{sending} sending, {waiting} waiting, {failed} failed"


NOTICE_NAMES = 3
"""Names a notification lists before it says "and n more"."""


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NOTICE_NAMES])
    more = len(names) - NOTICE_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def notice(ready: list[str], failed: list[tuple[str, str]]) -> tuple[str, str, bool]:
    """One notification (title, text, is it an error) for results and failures
    that arrived together: one file is named, many are counted."""
    if len(failed) == 1 and not ready:
        name, reason = failed[0]
        return f"{name} failed", reason or "no reason given", True
    if len(ready) == 1 and not failed:
        return "Result ready", ready[0], False
    if not failed:
        return f"{len(ready)} results ready", _names(ready), False
    failed_names = _names([name for name, _ in failed])
    if not ready:
        return (
            f"{len(failed)} files failed",
            f"{failed_names}: the jobs window says why",
            True,
        )
    return (
        f"{_files(len(ready)).replace('file', 'result')} ready, {len(failed)} failed",
        f"Failed: {failed_names}. Ready: {_names(ready)}.",
        True,
    )


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


class Tracker:
    """The rows, kept current from engine threads and read from the GUI (locked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: dict[str, JobView] = {}

    def load(self, drops: list[Drop]) -> None:
        with self._lock:
            for drop in reversed(drops):  # oldest first keeps the window's order
                self._views.setdefault(drop.file_id, from_drop(drop))

    def apply(self, event: Event, now: float, drop: Drop | None = None) -> JobView:
        """The row after ``event``; ``drop``, when given, supplies what the row lacks."""
        with self._lock:
            before = self._views.get(event.file_id)
            if before is None and drop is not None:
                before = from_drop(drop)
            view = apply(before, event, now)
            if view.size is None and drop is not None and drop.job is not None:
                view = dataclasses.replace(view, size=drop.job.size)
            self._views[event.file_id] = view
            return view

    def get(self, file_id: str) -> JobView | None:
        with self._lock:
            return self._views.get(file_id)

    def views(self) -> list[JobView]:
        with self._lock:
            return list(self._views.values())

    def remove(self, file_id: str) -> None:
        with self._lock:
            self._views.pop(file_id, None)

    def mark_seen(self) -> None:
        with self._lock:
            for key, view in self._views.items():
                if not view.seen:
                    self._views[key] = dataclasses.replace(view, seen=True)
