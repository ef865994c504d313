"""Start at login: an XDG autostart entry on Linux.

macOS (a LaunchAgent plist in ``~/Library/LaunchAgents``) and Windows (a
shortcut in the Startup folder, or the ``Run`` registry key) are done by the
installer of the bundle, see docs/desktop.md; here they report unsupported.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

ENTRY = "fpw.desktop"


def autostart_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart"


def supported() -> bool:
    return sys.platform.startswith(("linux", "freebsd", "openbsd"))


def command(config: Path | None = None) -> list[str]:
    """How the tray app is started: the bundle itself, or this Python."""
    argv = (
        [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "client.gui"]
    )
    if config is not None:
        argv += ["--config", str(config)]
    return argv


def desktop_entry(argv: list[str]) -> str:
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=fpw",
            "Comment=Send dropped files for analysis and collect the results",
            f"Exec={shlex.join(argv)}",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            "",
        ]
    )


def enabled(folder: Path | None = None) -> bool:
    return ((folder or autostart_dir()) / ENTRY).is_file()


def enable(argv: list[str], folder: Path | None = None) -> Path:
    target = (folder or autostart_dir()) / ENTRY
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(desktop_entry(argv), encoding="utf-8")
    return target


def disable(folder: Path | None = None) -> None:
    ((folder or autostart_dir()) / ENTRY).unlink(missing_ok=True)
