"""The watched folder as people use it, through the real headless agent
(``fpw client --headless``) with a real fetcher and processor on the local stack:
names at the file system's limits, awkward characters, links, files written
in bursts or kept open, pre-allocated copies, editors that save by rename,
folders of folders, and a job record deleted under the agent.

Each test ends the same way: every file is accounted for exactly once (one
result in ``results/index.jsonl``, or a reason in ``failed/``), a sibling folder
is byte for byte as it was, and no log holds a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.local.stack import LocalStack
from infra.local.up import Part, System
from shared.aws import Aws
from shared.record import Status, results_key
from shared.table import JobTable
from tests.helpers import wait_for

OWN = ("done", "failed", "results")
UNFINISHED = ("STAGING", "UPLOADING", "WAITING")


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed): a checksum, a link target, or 'dir'."""
    seen: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                seen[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                seen[rel] = "dir"
            else:
                seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


@dataclass
class Desk:
    system: System
    inbox: Path
    state_dir: Path
    outside: Path
    outside_before: dict[str, str]
    client: Part
    config: Path

    @property
    def results(self) -> Path:
        return self.inbox / "results"

    def index(self) -> list[dict[str, Any]]:
        path = self.results / "index.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def results_for(self, original: str) -> list[dict[str, Any]]:
        return [e for e in self.index() if e["original"] == original]

    def failures(self) -> dict[str, str]:
        """Originals in failed/ (relative to it) with their one-line reasons."""
        failed = self.inbox / "failed"
        if not failed.exists():
            return {}
        return {
            str(p.relative_to(failed)).removesuffix(".reason.txt"): p.read_text(encoding="utf-8")
            for p in failed.rglob("*.reason.txt")
        }

    def drops(self) -> list[tuple[str, str, str, str | None]]:
        """(file id, name, phase, error) of every drop, read from the agent's state."""
        db = self.state_dir / "state.db"
        if not db.exists():
            return []
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute("SELECT file_id, name, phase, error FROM drops").fetchall()
        conn.close()
        return [(str(a), str(b), str(c), d) for a, b, c, d in rows]

    def unfinished(self) -> list[str]:
        return [name for _, name, phase, _ in self.drops() if phase in UNFINISHED]

    def left_in_inbox(self) -> list[str]:
        """Regular files still in the watched folder (outside the agent's own folders)."""
        left = []
        for root, dirs, files in os.walk(self.inbox):
            if Path(root) == self.inbox:
                dirs[:] = [d for d in dirs if d not in OWN]
            for name in files:
                path = Path(root, name)
                if stat.S_ISREG(path.lstat().st_mode):
                    left.append(str(path.relative_to(self.inbox)))
        return left

    def settled(self, originals: set[str], ignored: Collection[str]) -> bool:
        """Every original has a result or a failure, and nothing is in hand any more."""
        answered = {e["original"] for e in self.index()} | set(self.failures())
        left = set(self.left_in_inbox()) - set(ignored)
        return originals <= answered and not self.unfinished() and not left

    def wait_settled(
        self, originals: set[str], ignored: Collection[str] = (), timeout: float = 120
    ) -> None:
        """Wait for every original to be answered; ``ignored`` files are left alone."""
        wait_for(
            lambda: self.settled(originals, ignored) or (not self.client.alive() and "client died"),
            timeout=timeout,
            interval=0.5,
            what=f"results for {sorted(originals)}",
        )
        assert self.client.alive(), self.client.output()[-3000:]

    def check_accounted(self, originals: set[str]) -> None:
        """Exactly one answer per original, and the originals retired beside them."""
        counts = Counter(e["original"] for e in self.index())
        failures = self.failures()
        for original in originals:
            answers = counts[original] + (original in failures)
            assert answers == 1, (original, counts[original], failures.get(original))
            if counts[original]:
                (entry,) = self.results_for(original)
                assert (self.results / entry["result"]).is_file()
                assert (self.inbox / "done" / original).is_file()
            else:
                assert (self.inbox / "failed" / original).is_file()
        assert set(counts) | set(failures) == originals

    def check_clean(self) -> None:
        """Nothing outside the folders touched; no traceback anywhere."""
        assert snapshot(self.outside) == self.outside_before
        # The processor is left out: it may log a health probe that hung up early.
        for part in self.system.parts.values():
            if part.name != "processor":
                log = part.output()
                assert "Traceback" not in log, f"{part.name}:\n{log[-4000:]}"


StartDesk = Callable[..., Desk]


@pytest.fixture
def start_desk(system: System, tmp_path: Path) -> Iterator[StartDesk]:
    def start(*, fetcher: bool = True, **settings: object) -> Desk:
        home = tmp_path / "desk"
        inbox, state_dir, outside = home / "inbox", home / "state", home / "outside"
        inbox.mkdir(parents=True)
        (outside / "nested").mkdir(parents=True)
        (outside / "secret.txt").write_text("the agent must never move this\n")
        (outside / "nested" / "deep.txt").write_text("nor this\n")
        (outside / "hard original.txt").write_text("one file, two names\n")
        config = system.client_config(inbox, state_dir, **settings)
        system.register_client(state_dir)
        if fetcher:
            system.start_fetcher()
        client = system.start_client(config)
        wait_for(lambda: "watching" in client.output(), what="the agent to start watching")
        return Desk(system, inbox, state_dir, outside, snapshot(outside), client, config)

    yield start


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def result_json(desk: Desk, original: str) -> dict[str, Any]:
    (entry,) = desk.results_for(original)
    data: dict[str, Any] = json.loads((desk.results / entry["result"]).read_text("utf-8"))
    return data


AWKWARD = [
    "n" * 251 + ".txt",  # 255 bytes: the longest name ext4 takes
    "é" * 125 + ".md",  # 253 bytes in 128 characters
    "😀" * 62 + ".txt",  # 252 bytes of four-byte characters
    "CON.txt",
    "nul",
    "trailing dot.",
    "trailing space ",
    "tab\there.txt",
    "new\nline.txt",
    'a:b*c?d"e<f>g|h.txt',
    "back\\slash.txt",
    "e\u0301 decomposed.txt",
    "Report.txt",
    "report.txt",
]


def test_names_at_the_limits_and_with_awkward_characters_each_get_one_result(
    start_desk: StartDesk,
) -> None:
    desk = start_desk()
    for n, name in enumerate(AWKWARD):
        (desk.inbox / name).write_text(f"file number {n}\n", encoding="utf-8")
    originals = set(AWKWARD)
    desk.wait_settled(originals)
    desk.check_accounted(originals)
    assert not desk.failures()
    names = [e["result"] for e in desk.index()]
    assert len({n.casefold() for n in names}) == len(names)
    for name in names:
        assert len(name.encode("utf-8")) <= 255
        assert not any(c in name for c in '<>:"\\|?*\t\n')
    assert result_json(desk, "CON.txt")["size"] == len("file number 3\n")
    desk.check_clean()


def test_links_are_skipped_and_what_they_point_to_is_never_touched(
    start_desk: StartDesk,
) -> None:
    desk = start_desk()
    inbox, outside = desk.inbox, desk.outside
    (inbox / "real.txt").write_text("a real file\n")
    links = {
        "link out.txt": outside / "secret.txt",
        "link in.txt": inbox / "real.txt",
        "linked folder": outside / "nested",
        "dangling.txt": outside / "nothing here",
    }
    for name, target in links.items():
        (inbox / name).symlink_to(target)
    os.link(outside / "hard original.txt", inbox / "hard link.txt")
    os.mkfifo(inbox / "a pipe")
    desk.wait_settled({"real.txt", "hard link.txt"})
    desk.check_accounted({"real.txt", "hard link.txt"})
    for name, target in links.items():
        assert (inbox / name).is_symlink() and os.readlink(inbox / name) == str(target)
    assert (inbox / "a pipe").exists()
    log = desk.client.output()
    for name in [*links, "a pipe"]:
        assert log.count(f"skipped {inbox / name}") == 1, name
    assert result_json(desk, "hard link.txt")["sha256"] == sha256(b"one file, two names\n")
    desk.check_clean()


def test_files_written_in_bursts_are_sent_once_in_their_final_content(
    start_desk: StartDesk,
) -> None:
    """An appender that closes between bursts and a writer that keeps the file open,
    both pausing for less than the settle time: one job each, of the whole file."""
    desk = start_desk(stable_seconds=1.0)
    piece = b"0123456789abcdef" * 6400  # 100 KiB

    def append() -> None:
        for _ in range(8):
            with (desk.inbox / "appended.log").open("ab") as out:
                out.write(piece)
            time.sleep(0.4)

    def keep_open() -> None:
        with (desk.inbox / "held open.log").open("wb") as out:
            for _ in range(8):
                out.write(piece)
                out.flush()
                time.sleep(0.4)

    writers = [threading.Thread(target=append), threading.Thread(target=keep_open)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    originals = {"appended.log", "held open.log"}
    desk.wait_settled(originals)
    desk.check_accounted(originals)
    for name in originals:
        assert result_json(desk, name)["sha256"] == sha256(piece * 8)
    # One job each (a machine stalled past the settle time would add superseded ones).
    kept = [name for _, name, phase, _ in desk.drops() if phase != "SUPERSEDED"]
    assert sorted(kept) == sorted(originals)
    desk.check_clean()


def test_a_file_that_changes_after_it_was_taken_ends_with_one_result_for_its_final_content(
    start_desk: StartDesk, system: System
) -> None:
    """Writers pausing longer than the settle time, so earlier content is taken and sent:
    an appender, an open writer, a copy that pre-allocates its final size, and an
    editor saving by rename. The fetcher starts once the writers are done."""
    desk = start_desk(fetcher=False, stable_seconds=0.5)
    inbox = desk.inbox
    piece = b"line of text\n" * 8000
    (inbox / "notes.txt").write_bytes(b"first draft\n")

    pause = 1.5  # three times the settle time: each piece is likely taken and sent

    def append() -> None:
        for _ in range(4):
            with (inbox / "appended.log").open("ab") as out:
                out.write(piece)
            time.sleep(pause)

    def keep_open() -> None:
        with (inbox / "held open.log").open("wb") as out:
            for _ in range(4):
                out.write(piece)
                out.flush()
                time.sleep(pause)

    def preallocated_copy() -> None:
        with (inbox / "copy.bin").open("wb") as out:
            os.posix_fallocate(out.fileno(), 0, 4 * len(piece))
            for _ in range(4):
                time.sleep(pause)
                out.write(piece)
                out.flush()

    def editor_save() -> None:
        wait_for(
            lambda: "took notes.txt as" in desk.client.output(),
            what="the first draft to be taken",
        )
        swap = inbox / ".notes.txt.swp"
        swap.write_bytes(b"editor state")
        temp = inbox / "notes.txt.tmp"
        temp.write_bytes(b"second draft, saved by rename\n")
        temp.replace(inbox / "notes.txt")
        swap.unlink()
        (inbox / "notes.txt~").write_bytes(b"first draft\n")  # a backup the editor leaves

    writers = [threading.Thread(target=w) for w in (append, keep_open, preallocated_copy)]
    writers.append(threading.Thread(target=editor_save))
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    originals = {"appended.log", "held open.log", "copy.bin", "notes.txt"}
    system.start_fetcher()
    desk.wait_settled(originals, ignored={"notes.txt~"})
    desk.check_accounted(originals)
    assert result_json(desk, "appended.log")["sha256"] == sha256(piece * 4)
    assert result_json(desk, "held open.log")["sha256"] == sha256(piece * 4)
    assert result_json(desk, "copy.bin")["sha256"] == sha256(piece * 4)
    assert result_json(desk, "notes.txt")["sha256"] == sha256(b"second draft, saved by rename\n")
    assert "changed after it was taken" in desk.client.output()
    desk.check_clean()


def test_folders_of_folders_are_taken_and_mirrored_in_results_and_done(
    start_desk: StartDesk, tmp_path: Path
) -> None:
    desk = start_desk()
    tree = tmp_path / "made elsewhere" / "project"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "deep.txt").write_text("three levels down\n")
    (tree / "a" / "side.txt").write_text("two levels down\n")
    (tree / "top.txt").write_text("one level down\n")
    tree.rename(desk.inbox / "project")  # a whole folder moved in
    (desk.inbox / "made here" / "inner").mkdir(parents=True)  # and one made in place
    (desk.inbox / "made here" / "inner" / "late.txt").write_text("written in place\n")
    originals = {
        "project/a/b/deep.txt",
        "project/a/side.txt",
        "project/top.txt",
        "made here/inner/late.txt",
    }
    desk.wait_settled(originals)
    desk.check_accounted(originals)
    for original in originals:
        (entry,) = desk.results_for(original)
        assert entry["result"] == original + ".result.json"
    desk.check_clean()


def test_a_job_whose_record_was_deleted_is_sent_again_a_bounded_number_of_times(
    start_desk: StartDesk, system: System, stack: LocalStack
) -> None:
    desk = start_desk(fetcher=False)
    admin = Aws(stack.admin_settings(), "test-admin")
    table = stack.admin_settings().table

    def waiting(name: str) -> list[str]:
        return [i for i, n, phase, _ in desk.drops() if n == name and phase == "WAITING"]

    def delete_record(name: str, seen: set[str]) -> None:
        (file_id,) = wait_for(
            lambda: [i for i in waiting(name) if i not in seen], what=f"{name} uploaded"
        )
        seen.add(file_id)
        admin.dynamodb.delete_item(TableName=table, Key={"file": {"S": file_id}})

    # Deleted once: sent again, and the new job's result arrives.
    (desk.inbox / "resent.txt").write_text("sent twice, answered once\n")
    delete_record("resent.txt", set())
    wait_for(lambda: "sent the file again" in desk.client.output(), what="the resend")
    # Deleted every time: sent again three times, then failed with the reason.
    (desk.inbox / "unlucky.txt").write_text("its record keeps vanishing\n")
    seen: set[str] = set()
    for _ in range(4):
        delete_record("unlucky.txt", seen)
    wait_for(lambda: "unlucky.txt" in desk.failures(), what="unlucky.txt to fail")
    system.start_fetcher()
    originals = {"resent.txt", "unlucky.txt"}
    desk.wait_settled(originals)
    desk.check_accounted(originals)
    assert "not sent again" in desk.failures()["unlucky.txt"]
    assert result_json(desk, "resent.txt")["sha256"] == sha256(b"sent twice, answered once\n")
    desk.check_clean()


def test_broken_and_oversized_results_fail_their_own_jobs_and_the_others_arrive(
    start_desk: StartDesk, system: System, stack: LocalStack
) -> None:
    """Results in S3 (the fetcher inlines only 4 KiB): one deleted, one replaced with
    junk, one over the desktop's cap, one small; the agent is stopped meanwhile."""
    desk = start_desk(fetcher=False, max_result_bytes=20_000)
    texts = {
        "small.txt": "a short note\n",
        "gone.txt": "result object deleted\n" * 400,
        "junk.txt": "result object replaced\n" * 400,
        "big.txt": "a result over the cap\n" * 3000,
    }
    for name, text in texts.items():
        (desk.inbox / name).write_text(text)

    def waiting() -> dict[str, str]:
        return {name: i for i, name, phase, _ in desk.drops() if phase == "WAITING"}

    def all_waiting() -> dict[str, str]:
        now = waiting()
        return now if len(now) == len(texts) else {}

    ids = wait_for(all_waiting, what="four uploads")
    desk.client.stop()
    system.start_fetcher(inline_result_bytes=4096)
    admin = Aws(stack.admin_settings(), "test-admin")
    table = JobTable(admin.dynamodb, stack.admin_settings().table)

    def completed() -> bool:
        jobs = [table.get(file_id) for file_id in ids.values()]
        return all(job is not None and job.status is Status.COMPLETED for job in jobs)

    wait_for(completed, timeout=120, what="four completed jobs")
    bucket = stack.admin_settings().bucket
    gone = table.get(ids["gone.txt"])
    assert gone is not None
    client_id = gone.client
    admin.s3.delete_object(Bucket=bucket, Key=results_key(client_id, ids["gone.txt"]))
    admin.s3.put_object(
        Bucket=bucket, Key=results_key(client_id, ids["junk.txt"]), Body=b"not sealed" * 10
    )
    desk.client = system.start_client(desk.config)
    desk.wait_settled(set(texts))
    desk.check_accounted(set(texts))
    failures = desk.failures()
    assert set(failures) == {"gone.txt", "junk.txt", "big.txt"}
    assert "missing or unreadable" in failures["gone.txt"]
    # Replaced under its signature: refused by the fleet signature check before any decryption.
    assert "the fleet's signature does not match" in failures["junk.txt"]
    assert "client.max_result_bytes" in failures["big.txt"]
    assert result_json(desk, "small.txt")["sha256"] == sha256(texts["small.txt"].encode())
    desk.check_clean()
