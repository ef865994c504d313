"""The installation's rules without a repository: which version starts,
what an interrupted install leaves, which sources are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.updates import HANDED_OFF, Installation, UpdateError, Updater, install_root
from shared.config import Settings


def installed(root: Path, *versions: str) -> Installation:
    inst = Installation(root, executable_name="fpw")
    for version in versions:
        (inst.versions / version).mkdir(parents=True)
        (inst.versions / version / "fpw").write_text("")
    return inst


def test_versions_are_listed_by_version_not_by_name(tmp_path: Path) -> None:
    assert installed(tmp_path, "0.10.0", "0.9.1", "0.2.0").installed() == [
        "0.2.0",
        "0.9.1",
        "0.10.0",
    ]


def test_current_names_only_a_complete_folder(tmp_path: Path) -> None:
    inst = installed(tmp_path, "0.1.0")
    (inst.versions / ".0.2.0-half").mkdir()
    (tmp_path / "current").write_text("0.2.0\n")
    assert inst.current() is None
    with pytest.raises(UpdateError):
        inst.switch("0.2.0")
    inst.switch("0.1.0")
    assert inst.current() == "0.1.0"


def test_a_sweep_removes_half_installs_and_keeps_versions(tmp_path: Path) -> None:
    inst = installed(tmp_path, "0.1.0")
    (inst.versions / ".0.2.0-half" / "_internal").mkdir(parents=True)
    (tmp_path / ".current-abc").write_text("0.2.0")
    inst.sweep()
    assert [p.name for p in inst.versions.iterdir()] == ["0.1.0"]
    assert not (tmp_path / ".current-abc").exists()


def test_an_older_program_hands_off_once_to_the_current_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = installed(tmp_path, "0.1.0", "0.2.0")
    inst.switch("0.2.0")
    assert inst.hand_off("0.1.0") == inst.versions / "0.2.0" / "fpw"
    assert inst.hand_off("0.2.0") is None
    monkeypatch.setenv(HANDED_OFF, "1")
    assert inst.hand_off("0.1.0") is None


def test_updates_install_under_the_state_folder_unless_told(tmp_path: Path) -> None:
    settings = Settings()
    settings.client.state_dir = tmp_path / "state"
    assert install_root(settings) == tmp_path / "state" / "app"
    settings.client.install_dir = tmp_path / "apps"
    assert install_root(settings) == tmp_path / "apps"


def test_only_s3_and_http_sources_are_accepted(tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="neither s3:// nor http"):
        Updater("ftp://example.com/releases", Installation(tmp_path)).check()


def test_without_trusted_root_metadata_nothing_is_fetched(tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="no trusted release key"):
        Updater("http://127.0.0.1:9", Installation(tmp_path)).check()
