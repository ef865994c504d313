"""The settings the tray app edits, read from and written to one TOML file.

The file is the one in force (``--config``, ``$FPW_CONFIG``, ``./.fpw``) or
else the user's ``~/.config/fpw/config.toml``. Writing merges: settings the
window does not show (and other parts' groups) are kept as they were. The
file may hold a site's AWS key, so it is written mode 0600 in a 0700 folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.config import USER_CONFIG, Settings, config_path, dump_toml
from shared.errors import ConfigError
from shared.private import write_private


def settings_file(explicit: str | os.PathLike[str] | None = None) -> Path:
    return config_path(explicit, os.environ) or USER_CONFIG.expanduser()


def read(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    return {k: dict(v) for k, v in data.items() if isinstance(v, dict)}


def write(path: Path, updates: dict[str, dict[str, Any]]) -> None:
    """Merge ``updates`` into the file; a None value removes the setting."""
    data = read(path)
    for group, values in updates.items():
        target = data.setdefault(group, {})
        for name, value in values.items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
    # The file may hold a site's AWS key: owner-only, and never briefly readable.
    write_private(path, dump_toml(data))


@dataclass
class Preferences:
    """What the settings window shows; the first folder is ``client.inbox``."""

    folders: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    results: str = ""
    done: str = ""
    aws_profile: str = ""
    endpoint_url: str = ""
    region: str = "us-east-1"
    concurrency: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> Preferences:
        cs, aws = settings.client, settings.aws
        folders = [(str(cs.inbox), dict(cs.params))]
        folders += [(str(k), dict(v or {})) for k, v in cs.folders.items()]
        return cls(
            folders=folders,
            results=str(cs.results) if cs.results else "",
            done=str(cs.done) if cs.done else "",
            aws_profile=aws.profile or "",
            endpoint_url=aws.endpoint_url or "",
            region=aws.region,
            concurrency=cs.upload_concurrency,
        )

    def updates(self) -> dict[str, dict[str, Any]]:
        if not self.folders:
            raise ConfigError("at least one watched folder is needed")
        (inbox, params), *more = self.folders
        return {
            "client": {
                "inbox": inbox,
                "params": params,
                "folders": {folder: p for folder, p in more},
                "results": self.results or None,
                "done": self.done or None,
                "upload_concurrency": max(1, self.concurrency),
            },
            "aws": {
                "profile": self.aws_profile or None,
                "endpoint_url": self.endpoint_url or None,
                "region": self.region or "us-east-1",
            },
        }
