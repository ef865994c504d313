"""When a watched file counts as complete: the rules on plain values, then the
real folder watcher on a real folder (inotify on Linux)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from client.watch import CLOSED_SETTLE_SECONDS, InboxWatcher, StableFiles


def test_a_file_moved_in_whole_is_ready_after_a_short_settle(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF")
    stable = StableFiles(stable_seconds=2)
    stable.touch(path, written=True)
    assert stable.ready(now=0) == []  # first look
    assert stable.ready(now=CLOSED_SETTLE_SECONDS / 2) == []
    assert stable.ready(now=CLOSED_SETTLE_SECONDS) == [path]
    assert not stable.pending


def test_a_change_after_the_move_needs_the_full_wait_again(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"1\n")
    stable = StableFiles(stable_seconds=2)
    stable.touch(path, written=True)
    assert stable.ready(now=0) == []
    with path.open("ab") as fh:  # reopened and appended to
        fh.write(b"2\n")
    stable.touch(path, written=False)
    assert stable.ready(now=0.1) == []  # changed: the clock restarts
    assert stable.ready(now=1.0) == []  # written in place since: the full wait applies
    assert stable.ready(now=2.2) == [path]


def test_a_folder_listing_does_not_undo_a_seen_move(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8")
    stable = StableFiles(stable_seconds=2)
    stable.touch(path, written=True)
    stable.touch(path)  # the periodic rescan lists it
    assert stable.ready(now=0) == []
    assert stable.ready(now=CLOSED_SETTLE_SECONDS) == [path]


class Taken:
    def __init__(self) -> None:
        self.paths: list[tuple[float, str]] = []

    def __call__(self, path: Path) -> None:
        self.paths.append((time.monotonic(), path.name))

    def names(self) -> list[str]:
        return [name for _, name in self.paths]


@pytest.fixture
def watching(tmp_path: Path) -> Iterator[tuple[Path, Taken]]:
    """A watcher whose plain stability rule (5 s) is far longer than the close rule."""
    inbox = tmp_path / "inbox"
    taken = Taken()
    watcher = InboxWatcher(inbox, taken, stable_seconds=5.0)
    watcher.start()
    thread = threading.Thread(target=watcher.loop, daemon=True)
    thread.start()
    try:
        yield inbox, taken
    finally:
        watcher.stop()
        thread.join(timeout=5)


def wait_until(check: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.02)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="move events are inotify's")
def test_a_file_moved_in_is_taken_at_once_and_one_written_in_place_once_quiet(
    watching: tuple[Path, Taken], tmp_path: Path
) -> None:
    inbox, taken = watching
    (inbox / "written.txt").write_bytes(b"x" * 100_000)
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes(b"y" * 1000)
    outside.rename(inbox / "moved in.txt")
    wait_until(lambda: taken.paths, timeout=3)
    # Closed is not finished: an appender closes the file between bursts.
    assert taken.names() == ["moved in.txt"]
    wait_until(lambda: len(taken.paths) == 2, timeout=15)
    assert sorted(taken.names()) == ["moved in.txt", "written.txt"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="close events are inotify's")
def test_a_file_still_open_for_writing_waits_until_quiet_and_is_taken_once(
    watching: tuple[Path, Taken],
) -> None:
    inbox, taken = watching
    target = inbox / "recording.csv"
    with target.open("wb") as out:
        for _ in range(4):  # pauses longer than the close rule's settle
            out.write(b"1,2,3\n" * 100)
            out.flush()
            time.sleep(2 * CLOSED_SETTLE_SECONDS)
        assert taken.paths == []
    wait_until(lambda: taken.paths, timeout=15)
    assert taken.names() == ["recording.csv"]
    target.read_bytes()  # reading it (as the engine does) is no new drop
    time.sleep(4 * CLOSED_SETTLE_SECONDS)
    assert taken.names() == ["recording.csv"]


def test_folders_inside_are_taken_but_links_pipes_and_the_agents_own_folders_are_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    (inbox / "done").mkdir(parents=True)
    (inbox / "a" / "b").mkdir(parents=True)
    (inbox / ".hidden folder").mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("outside")
    (inbox / "a" / "b" / "deep.txt").write_text("deep")
    (inbox / "top.txt").write_text("top")
    (inbox / "done" / "old.txt").write_text("already done")
    (inbox / ".hidden folder" / "x.txt").write_text("hidden")
    (inbox / "link.txt").symlink_to(outside / "secret.txt")
    (inbox / "linked folder").symlink_to(outside)
    os.mkfifo(inbox / "pipe")
    taken = Taken()
    watcher = InboxWatcher(inbox, taken, stable_seconds=0.1, excluded=[inbox / "done"])
    watcher.scan()
    watcher.scan()  # the periodic rescan says nothing new
    time.sleep(0.2)
    for path in watcher.stable.ready(now=0) + watcher.stable.ready(now=1):
        taken(path)
    assert sorted(taken.names()) == ["deep.txt", "top.txt"]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 3  # the two links and the pipe, once each
    assert not watcher.watched(inbox / "linked folder" / "secret.txt")
