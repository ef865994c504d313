"""Settings file merging, watched folders and the autostart entry."""

from __future__ import annotations

from pathlib import Path

from client import autostart
from client.agent import watched_folders
from client.userconfig import Preferences, read, write
from shared.config import load_settings


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
