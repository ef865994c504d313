"""Client rules tested on plain files and values."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from client.places import read_all, result_name, result_path
from client.staging import FileChanged, content_type_of, fingerprint, stage
from client.state import Drop, Phase, State
from client.watch import StableFiles, ignored
from shared import chunks, hpke
from shared.errors import FpwError, IntegrityError


def test_staging_spools_each_chunk_and_hashes_what_is_stored(tmp_path: Path) -> None:
    source = tmp_path / "data.txt"
    source.write_bytes(b"hello world\n" * 1000)
    staged = stage(source, tmp_path / "spool", chunk_size=4096, level=3)
    assert staged.size == 12000 and len(staged.chunk_sha256) == 3
    assert staged.compression == chunks.ZSTD
    rebuilt = io.BytesIO()
    for n, digest in enumerate(staged.chunk_sha256):
        stored = (tmp_path / "spool" / str(n)).read_bytes()
        assert chunks.sha256_hex(stored) == digest
        chunks.decompress_into(stored, staged.compression, rebuilt, 1 << 20)
    assert rebuilt.getvalue() == source.read_bytes()
    assert staged.content_type == "text/plain"


def test_staging_an_empty_file_gives_one_empty_chunk(tmp_path: Path) -> None:
    source = tmp_path / "empty.bin"
    source.write_bytes(b"")
    staged = stage(source, tmp_path / "spool", chunk_size=4096, level=3)
    assert staged.size == 0 and len(staged.chunk_sha256) == 1


def test_random_data_is_spooled_raw(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(os.urandom(10000))
    staged = stage(source, tmp_path / "spool", chunk_size=4096, level=3)
    assert staged.compression == chunks.RAW
    assert (tmp_path / "spool" / "0").read_bytes() == source.read_bytes()[:4096]


def test_a_file_growing_during_staging_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "growing.log"
    source.write_bytes(b"x" * 10000)

    original = os.fdopen

    def open_and_grow(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = original(fd, *args, **kwargs)
        with source.open("ab") as more:  # written to after staging looked at it
            more.write(b"more")
        return handle

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdopen", open_and_grow)
        with pytest.raises(FileChanged):
            stage(source, tmp_path / "spool", chunk_size=4096, level=3)


def test_staging_never_reads_through_a_link_nor_opens_a_pipe(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"outside the folder")
    (tmp_path / "link.txt").symlink_to(target)
    os.mkfifo(tmp_path / "pipe")
    for name in ("link.txt", "pipe"):
        with pytest.raises(FpwError):
            stage(tmp_path / name, tmp_path / "spool", chunk_size=4096, level=3)


@pytest.mark.parametrize(
    "name", ["~$report.docx", ".~lock.report.odt#", "video.part", "x.tmp", ".DS_Store", ".hidden"]
)
def test_temporary_and_hidden_files_are_ignored(name: str) -> None:
    assert ignored(name)


@pytest.mark.parametrize("name", ["report.pdf", "scan 1.png", "photo été.jpg", "notes.txt"])
def test_ordinary_files_are_taken(name: str) -> None:
    assert not ignored(name)


def test_a_file_is_ready_only_after_it_stops_changing(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a")
    stable = StableFiles(stable_seconds=2)
    stable.touch(path)
    assert stable.ready(now=0) == []  # first look
    with path.open("ab") as fh:
        fh.write(b"b")
    assert stable.ready(now=1.5) == []  # changed: the clock restarts
    assert stable.ready(now=3.0) == []
    assert stable.ready(now=3.6) == [path]
    assert stable.ready(now=10) == []  # handed over once


def test_content_types_come_from_the_extension() -> None:
    assert content_type_of("a.PDF") == "application/pdf"
    assert content_type_of("a.md") == "text/markdown"
    assert content_type_of("noext") == "application/octet-stream"


def test_result_names_keep_the_original_name_and_never_overwrite(tmp_path: Path) -> None:
    assert result_name("scan 1.png", "application/json") == "scan 1.png.result.json"
    assert result_name("a.txt", "text/plain; charset=utf-8") == "a.txt.result.txt"
    first = result_path(tmp_path, "a.txt", "application/json")
    first.write_text("1")
    assert result_path(tmp_path, "a.txt", "application/json").name == "a (2).txt.result.json"


def test_the_same_drop_is_recorded_once_until_it_finishes(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("x")
    state = State(tmp_path / "state.db")

    def drop(file_id: str) -> Drop:
        return Drop(
            file_id,
            path,
            path.name,
            fingerprint(path),
            "watch",
            {},
            Phase.STAGING,
            None,
            False,
            None,
            None,
            0.0,
            0.0,
        )

    assert state.add(drop("file-1"))
    assert not state.add(drop("file-2"))
    state.update("file-1", 1.0, phase=Phase.DONE)
    assert state.add(drop("file-3"))
    state.confirm_chunk("file-3", 0)
    state.confirm_chunk("file-3", 0)
    assert state.confirmed_chunks("file-3") == {0}
    state.close()


def test_a_state_database_of_the_first_schema_opens_with_its_drops(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(
            "CREATE TABLE drops (file_id TEXT PRIMARY KEY, path TEXT NOT NULL,"
            " name TEXT NOT NULL, fingerprint TEXT NOT NULL, source TEXT NOT NULL,"
            " params TEXT NOT NULL, phase TEXT NOT NULL, job TEXT, remote TEXT, error TEXT,"
            " result_path TEXT, created REAL NOT NULL, updated REAL NOT NULL);"
            "INSERT INTO drops VALUES ('file-1', '/in/a.txt', 'a.txt', 'fp', 'watch', '{}',"
            " 'UPLOADING', NULL, 'created', NULL, NULL, 1.0, 1.0);"
        )
    state = State(path)
    try:
        drop = state.get("file-1")
        assert drop is not None and drop.recorded and drop.result_type is None
        state.update("file-1", 2.0, phase=Phase.DONE, result_type="application/json")
        again = state.get("file-1")
        assert again is not None and again.result_type == "application/json"
    finally:
        state.close()


def test_a_result_is_held_once_while_it_is_read_and_decrypted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    size = 16 * 1024 * 1024
    sealed = hpke.seal(hpke.Payload("text/plain", b"r" * size), key.public_key(), "file-1")
    tracemalloc.start()
    try:
        ciphertext = read_all(io.BytesIO(sealed), len(sealed), cap=2 * size, file_id="file-1")
        content_type, body = hpke.open_parts(ciphertext, key, "file-1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert content_type == "text/plain" and len(body) == size and bytes(body[:1]) == b"r"
    assert peak < 2.2 * size  # the ciphertext and the plaintext, no third copy


def test_a_result_over_the_cap_or_short_of_its_length_is_refused() -> None:
    with pytest.raises(IntegrityError, match="max_result_bytes"):
        read_all(io.BytesIO(b"x" * 100), -1, cap=99, file_id="file-1")
    with pytest.raises(IntegrityError, match="announced"):
        read_all(io.BytesIO(b"x" * 10), 20, cap=99, file_id="file-1")
    assert read_all(io.BytesIO(b"x" * 10), 10, cap=10, file_id="file-1") == b"x" * 10
