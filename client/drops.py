"""A drop's moves to its last phases: each written to the state database, then
done on disk (the original retired, the reason written beside it), then told
to the faces.

A drop is DONE (its result saved), FAILED (with a reason the user reads in the
jobs list and in ``failed/``), or SUPERSEDED when a newer drop carries its
file's final content. Only a watched original is ever moved, and only inside
the watched folders (``client.places``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from client.events import Event, Listeners
from client.names import NAME_MAX_BYTES, safe_name
from client.places import Places, one_line
from client.staging import fingerprint, regular
from client.state import Drop, Phase, State, StateError
from client.upload import Uploader

log = logging.getLogger(__name__)


def reason_note(original: Path) -> Path:
    """The note beside a failed original that says why it failed."""
    return original.with_name(safe_name(original.name, ".reason.txt", (), NAME_MAX_BYTES))


@dataclass
class Drops:
    """Ends drops: DONE, FAILED or SUPERSEDED, and tells the faces of every step."""

    state: State
    places: Places
    uploader: Uploader
    listeners: Listeners
    clock: Callable[[], float]

    def tell(
        self,
        drop: Drop,
        phase: Phase,
        detail: str = "",
        *,
        progress: float | None = None,
        status: str | None = None,
    ) -> None:
        self.listeners.tell(Event(drop.file_id, drop.name, phase, detail, progress, status))

    def changed(self, drop: Drop) -> bool:
        """Whether a watched file changed since its content was taken (a newer
        drop is, or will be once the file is quiet, made for it)."""
        if drop.source != "watch" or regular(drop.path) is not True:
            return False
        try:
            return fingerprint(drop.path) != drop.fingerprint
        except OSError:
            return False

    def supersede(self, file_id: str, reason: str) -> bool:
        """Mark an unfinished drop SUPERSEDED (its result, if any, is never saved)."""
        for _ in range(5):  # a worker may move it to its next phase meanwhile
            drop = self.state.get(file_id)
            if drop is None or drop.phase.finished:
                return False
            if self.state.update(
                file_id, self.clock(), expect=drop.phase, phase=Phase.SUPERSEDED, error=reason
            ):
                self.tell(drop, Phase.SUPERSEDED, reason)
                return True
        return False

    def replace_older(self, drop: Drop) -> None:
        """Supersede the unfinished drops of a watched file that ``drop`` took again:
        only the result for its final content is kept."""
        for older in self.state.unfinished_at(drop.path, drop.source):
            if older.file_id != drop.file_id and self.supersede(
                older.file_id, f"the file changed; its new content is job {drop.file_id}"
            ):
                log.info(
                    "%s changed after it was taken: job %s is replaced by %s; only the"
                    " result for its final content is kept",
                    drop.name,
                    older.file_id,
                    drop.file_id,
                )

    def done(self, drop: Drop, target: Path, content_type: str) -> None:
        """The result is saved at ``target``: retire the original, and say where."""
        original = drop.path
        try:
            self.retire(drop, done=True)
        except OSError as exc:
            log.warning(
                "%s: result saved, but the original stays where it is: %s", drop.name, one_line(exc)
            )
        self.state.update(
            drop.file_id,
            self.clock(),
            phase=Phase.DONE,
            result_path=target,
            result_type=content_type,
            error=None,
        )
        self.places.note_result(drop.file_id, drop.name, original, target)
        self.tell(drop, Phase.DONE, str(target))
        log.info("%s: result saved to %s", drop.name, target)

    def fail(self, file_id: str, reason: str) -> None:
        try:
            drop = self.state.get(file_id)
        except StateError as exc:
            # Too damaged to show or retire: at least it is not taken up again.
            self.state.update(file_id, self.clock(), phase=Phase.FAILED, error=reason)
            log.error("%s failed: %s (%s)", file_id, reason, exc)
            return
        if drop is None or drop.phase.finished:
            return
        if self.changed(drop):
            # A failure of content the file no longer has: its newer content goes on.
            self.supersede(file_id, f"the file changed after it was sent (that job: {reason})")
            log.info(
                "%s changed after it was sent; job %s (%s) is replaced", drop.name, file_id, reason
            )
            return
        retired = None
        try:
            retired = self.retire(drop, done=False)
        except OSError as exc:
            log.warning("%s: could not move it to failed/: %s", drop.name, one_line(exc))
        self.state.update(file_id, self.clock(), phase=Phase.FAILED, error=reason)
        self.uploader.discard(file_id)
        if retired is not None:
            note = reason_note(retired)
            try:
                note.write_text(f"{drop.name}: {reason}\n", encoding="utf-8", errors="replace")
            except OSError as exc:
                log.warning("could not write %s: %s", note.name, one_line(exc))
        self.tell(drop, Phase.FAILED, reason)
        log.error("%s failed: %s", drop.name, reason)

    def retire(self, drop: Drop, *, done: bool) -> Path | None:
        """Move a watched original to ``done/`` or ``failed/``; returns where."""
        if drop.source != "watch":
            return None
        target = self.places.retire(drop.path, drop.name, done=done)
        if target is not None:
            self.state.update(drop.file_id, self.clock(), path=target)
        return target
