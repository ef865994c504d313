"""Where the agent writes on disk: results, and the originals it retires.

One place decides which watched folder a file belongs to, where its result
goes (mirroring its sub-folder) and where the original moves once finished,
so that nothing outside the watched folders (and their ``done/``, ``failed/``
and results folders) is ever moved: a link, or a path that is not inside a
watched folder, is left where it is. Result names follow
``client.names.safe_name``; ``<results>/index.jsonl`` records which original
each result came from.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.names import NAME_MAX_BYTES, free_in, name_limit, safe_name
from client.staging import regular
from shared.config import Settings
from shared.errors import FpwError, IntegrityError
from shared.record import iso, utc_now

log = logging.getLogger(__name__)

RESULT_SUFFIXES = {
    "application/json": "json",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/csv": "csv",
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "application/zip": "zip",
}
RESULTS_INDEX = "index.jsonl"
"""In the results folder: one JSON object a line for every saved result."""
READ_PIECE_BYTES = 8 * 1024 * 1024


def result_extension(content_type: str) -> str:
    """``.result.json`` etc.: what a result's name adds to its original's."""
    return ".result." + RESULT_SUFFIXES.get(content_type.split(";")[0].strip(), "bin")


def result_name(original: str, content_type: str) -> str:
    return f"{original}{result_extension(content_type)}"


def result_path(folder: Path, original: str, content_type: str) -> Path:
    """Where the result of ``original`` goes in ``folder``: a name the file system
    takes, never one already there (see ``client.names.safe_name``)."""
    extension = result_extension(content_type)
    return folder / safe_name(original, extension, free_in(folder), name_limit(folder))


def one_line(exc: BaseException) -> str:
    """An error as one line for the log, the jobs window and ``failed/``."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:500]


def too_big(size: int, cap: int) -> str:
    return (
        f"the result has {size} bytes, more than client.max_result_bytes ({cap});"
        " it was not downloaded"
    )


def read_all(stream: Any, size: int, cap: int, file_id: str) -> bytes | bytearray:
    """All of ``stream`` in one buffer: ``size`` bytes when announced, at most ``cap``."""
    if size < 0:
        data = stream.read(cap + 1)
        if len(data) > cap:
            raise IntegrityError(too_big(len(data), cap), job=file_id)
        return bytes(data)
    buffer = bytearray(size)
    view = memoryview(buffer)
    filled = 0
    while filled < size:
        piece = stream.read(min(READ_PIECE_BYTES, size - filled))
        if not piece:
            break
        view[filled : filled + len(piece)] = piece
        filled += len(piece)
    if filled != size or stream.read(1):
        raise IntegrityError(
            f"the result object has not the {size} bytes it announced", job=file_id
        )
    return buffer


@dataclass
class Places:
    """The watched folders and the folders the agent writes to."""

    folders: list[Path]
    results: Path
    done: Path
    done_configured: bool
    """A configured ``client.done`` holds every folder's originals."""
    failed_name: str = "failed"

    @classmethod
    def of(cls, settings: Settings, folders: list[Path] | None = None) -> Places:
        """The places ``settings`` name, for ``folders`` (by default the inbox alone)."""
        cs = settings.client
        inbox = cs.inbox.expanduser()
        return cls(
            folders if folders is not None else [inbox.resolve()],
            (cs.results or inbox / "results").expanduser(),
            (cs.done or inbox / "done").expanduser(),
            cs.done is not None,
        )

    def own(self, folder: Path) -> list[Path]:
        """What the watcher of ``folder`` never takes files from: the agent's own
        folders (done, failed, results) and the watched folders nested in it."""
        own = [folder / self.done.name, folder / self.failed_name]
        own += [self.results.resolve(), self.done.resolve()]
        return own + [f for f in self.folders if f != folder]

    def take(self, path: Path, *, watched: bool) -> Path:
        """The path a drop of ``path`` is taken as; ``FpwError`` when it cannot be.

        A watched file is taken by its own name: a link is refused, never followed.
        """
        path = path.expanduser()
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            raise FpwError(
                f"{path.name!r} is not a valid file name here (not UTF-8 text); rename it"
            ) from None
        if watched:
            path = path.parent.resolve() / path.name
            if regular(path) is not True:
                raise FpwError(f"{path.name} is not a regular file; links are not followed")
            if self.root(path) is None:
                raise FpwError(f"{path} is not inside a watched folder")
            return path
        path = path.resolve()
        if not path.is_file():
            raise FpwError(f"{path} is not a file")
        return path

    def root(self, path: Path) -> Path | None:
        """The watched folder ``path`` is in (the deepest, if they nest)."""
        roots = sorted(self.folders, key=lambda f: len(f.parts), reverse=True)
        return next((r for r in roots if path.is_relative_to(r) and path != r), None)

    def relative_dir(self, path: Path) -> Path:
        """The folder of ``path`` within its watched folder (``a/b`` for ``inbox/a/b/x``),
        which its result and its retired original mirror; a retried file's
        ``failed/`` is left out."""
        root = self.root(path)
        if root is None:
            return Path()
        parts = path.parent.relative_to(root).parts
        if parts and parts[0] in (self.failed_name, self.done.name):
            parts = parts[1:]
        return Path(*(safe_name(p, "", (), NAME_MAX_BYTES) for p in parts))

    def retire(self, path: Path, name: str, *, done: bool) -> Path | None:
        """Move a finished original to ``done/`` (or ``failed/``) of its watched folder,
        mirroring its sub-folder; returns where, or None when it is left alone.

        Only a regular file inside a watched folder is ever moved: never a link,
        nor what it points to.
        """
        if regular(path) is not True:
            return None
        root = self.root(path)
        if root is None:
            log.warning("%s is outside the watched folders; it is left where it is", path)
            return None
        if done and self.done_configured:
            base = self.done
        else:
            base = root / (self.done.name if done else self.failed_name)
        folder = base / self.relative_dir(path)
        folder.mkdir(parents=True, exist_ok=True)
        limit = name_limit(folder)
        if (folder / name).exists() or len(os.fsencode(name)) > limit:
            name = safe_name(name, "", free_in(folder), limit)
        target = folder / name
        shutil.move(str(path), target)
        return target

    def note_result(self, file_id: str, name: str, original: Path, target: Path) -> None:
        """Note which original a result came from in ``<results>/index.jsonl``, where
        a result's shortened or cleaned name can be looked up."""
        root = self.root(original)
        entry = {
            "result": str(target.relative_to(self.results)),
            "original": str(original.relative_to(root)) if root else name,
            "folder": str(root) if root else str(original.parent),
            "job": file_id,
            "saved": iso(utc_now()),
        }
        try:
            with (self.results / RESULTS_INDEX).open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
        except OSError as exc:
            log.warning("could not add %s to the results index: %s", target.name, one_line(exc))
