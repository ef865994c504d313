"""A full disk as the project's error: where, how much, what to do, and nothing
half-written left behind (``/dev/full`` answers every write with ENOSPC)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from shared.disk import free_bytes, room_for, size_text
from shared.errors import DiskFullError, TransientError

DEV_FULL = Path("/dev/full")


@pytest.mark.skipif(not DEV_FULL.exists(), reason="this system has no /dev/full")
def test_a_full_disk_becomes_a_recoverable_error_that_names_the_folder_and_the_room(
    tmp_path: Path,
) -> None:
    partial = tmp_path / "half.part"
    partial.write_bytes(b"x" * 4096)
    with (
        pytest.raises(DiskFullError) as caught,
        room_for(
            tmp_path,
            3 * 1024 * 1024,
            "the chunks of scan.bin",
            job="file-1",
            setting="client.state_dir",
            undo=lambda: partial.unlink(),
        ),
    ):
        DEV_FULL.write_bytes(b"data")
    error = caught.value
    assert isinstance(error, TransientError) and error.recoverable
    assert error.directory == tmp_path and error.needed == 3 * 1024 * 1024
    assert not partial.exists(), "what was half-written goes before the room is measured"
    assert error.free == free_bytes(tmp_path)
    assert str(error).startswith(
        f"file-1: no space left in {tmp_path} for the chunks of scan.bin: needs up to 3.0 MiB, "
    )
    assert "set client.state_dir to a larger disk" in str(error)
    assert isinstance(error.__cause__, OSError) and error.__cause__.errno == errno.ENOSPC


def test_other_os_errors_pass_through_unchanged(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), room_for(tmp_path, 1, "a file"):
        (tmp_path / "missing" / "file").read_bytes()


def test_free_room_of_a_folder_not_made_yet_is_that_of_its_parent(tmp_path: Path) -> None:
    assert free_bytes(tmp_path / "not" / "yet") == free_bytes(tmp_path) > 0


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1536, "1.5 KiB"),
        (3 << 20, "3.0 MiB"),
        (5 << 30, "5.0 GiB"),
    ],
)
def test_sizes_read_as_people_say_them(count: int, text: str) -> None:
    assert size_text(count) == text
