"""Settings file merging, watched folders and the autostart entry."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from client import autostart
from client.agent import watched_folders
from client.userconfig import Preferences, read, write
from shared.config import load_settings
from shared.private import write_private


def test_saving_preferences_keeps_what_the_window_does_not_show(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[aws]\ntable = "jobs-x"\n[fetcher]\npoll_seconds = 3.0\n')
    prefs = Preferences(
        folders=[
            (str(tmp_path / "scans"), {"profile": "ocr", "pages": [1, 2]}),
            (str(tmp_path / "photos"), {"profile": "images"}),
        ],
        results=str(tmp_path / "results"),
        endpoint_url="http://127.0.0.1:5000",
        concurrency=6,
    )
    write(config, prefs.updates())
    settings = load_settings(config, environ={})
    assert settings.aws.table == "jobs-x" and settings.fetcher.poll_seconds == 3.0
    assert Preferences.from_settings(settings) == prefs
    folders = watched_folders(settings)
    assert [f.name for f, _ in folders] == ["scans", "photos"]
    assert folders[1][1] == {"profile": "images"}
    # Clearing a folder setting removes it from the file.
    prefs.results = ""
    write(config, prefs.updates())
    assert "results" not in read(config)["client"]


def test_the_autostart_entry_starts_the_tray_app(tmp_path: Path) -> None:
    assert not autostart.enabled(tmp_path)
    entry = autostart.enable(autostart.command(tmp_path / "my config.toml"), tmp_path)
    text = entry.read_text()
    assert "client.gui" in text and "'" in text.split("Exec=")[1]  # quoted path with a space
    assert autostart.enabled(tmp_path)
    autostart.disable(tmp_path)
    assert not autostart.enabled(tmp_path)


def test_the_settings_file_with_a_site_key_is_owner_only_whatever_the_umask(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "fpw"
    folder.mkdir(mode=0o755)
    config = folder / "config.toml"
    config.write_text('[aws]\nregion = "eu-west-1"\n')
    config.chmod(0o644)  # as a hand-written file might be
    before = os.umask(0)
    try:
        write(config, {"aws": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cret"}})
    finally:
        os.umask(before)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert read(config)["aws"]["secret_access_key"] == "s3cret"
    assert [p.name for p in folder.iterdir()] == ["config.toml"]  # no temporary file left


def test_private_files_replace_a_readable_one_and_make_their_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "admin.toml"
    before = os.umask(0)
    try:
        write_private(target, "secret")
        write_private(target, "secret 2")
    finally:
        os.umask(before)
    assert target.read_text() == "secret 2"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
