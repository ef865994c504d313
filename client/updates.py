"""Checking for a new version of the desktop agent (on request only).

Releases will be PyInstaller bundles published as a signed TUF repository;
until a source is configured the check says so. The tray's "Check for
updates" calls ``check`` through ``CHECKER`` so that the updater can plug in
without touching the GUI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared import __version__


@dataclass(frozen=True)
class UpdateInfo:
    current: str
    available: str | None
    """The newer version, or None when there is none (or no source)."""
    message: str


def no_source() -> UpdateInfo:
    return UpdateInfo(__version__, None, "no update source configured")


CHECKER: Callable[[], UpdateInfo] = no_source


def check() -> UpdateInfo:
    """Ask the configured update source; never installs anything."""
    return CHECKER()
