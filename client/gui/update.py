"""The "a new version is available" window: version, release notes, and an
install button that is the only way an update gets installed.

Non-modal, so the agent's signals keep flowing while it is open.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from client import updates
from client.updates import UpdateInfo

if TYPE_CHECKING:
    from client.gui.bridge import AgentBridge
    from client.gui.tray import Tray
    from shared.config import Settings

log = logging.getLogger("client.gui.app")


class UpdateDialog(QMessageBox):
    install = Signal()
    """The user chose to install (and restart into) the new version."""

    def __init__(self, info: UpdateInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setWindowTitle("fpw: update available")
        self.setIcon(QMessageBox.Icon.Information)
        self.setText(f"fpw {info.available} is available (this is {info.current}).")
        self.setInformativeText(
            "Installing restarts fpw; settings, keys and pending jobs stay as they are."
        )
        if info.notes:
            self.setDetailedText(info.notes)
        self.install_button: QPushButton = self.addButton(
            "Install and restart", QMessageBox.ButtonRole.AcceptRole
        )
        self.later_button: QPushButton = self.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.later_button)
        self.setModal(False)
        self.install_button.clicked.connect(self.install.emit)


class UpdateActions:
    """Checking for and installing updates; mixed into ``TrayApp``."""

    update_dialog: UpdateDialog | None = None
    update_seen: str | None = None
    """The newest version a timed check has told of (each is told once)."""
    restart_into: list[str] | None = None
    """The program (and arguments) to run once this one has quit: a new version."""

    if TYPE_CHECKING:
        # Provided by the app (``client.gui.app.TrayApp``).
        bridge: AgentBridge
        tray: Tray
        relaunch: Callable[[list[str]], None]

        def settings(self) -> Settings: ...
        def show_error(self, title: str, text: str) -> None: ...
        def quit(self) -> None: ...

    def check_updates(self, quiet: bool = False) -> None:
        """Ask the update source (off the GUI thread); ``quiet`` speaks only of news."""

        def failed(text: str) -> None:
            if not quiet:
                self.show_error("Check for updates", text)

        self.bridge.call(
            lambda: updates.check(self.settings()),
            lambda info: self._update_checked(info, quiet),
            failed,
        )

    def _update_checked(self, info: updates.UpdateInfo, quiet: bool) -> None:
        if info.available is None:
            if not quiet:
                self.tray.notify("Updates", info.message)
            return
        if quiet:
            # A timed check says so once per version and never opens a window.
            if self.update_seen != info.available:
                self.update_seen = info.available
                self.tray.notify("Update available", f"{info.message}: Check for updates…")
            return
        dialog = UpdateDialog(info)
        dialog.install.connect(self.install_update)
        self.update_dialog = dialog
        dialog.open()

    def install_update(self) -> None:
        """The user said install: verify, install, then restart into the new version."""
        self.tray.notify("Updates", "downloading and verifying the update…")
        self.bridge.call(
            lambda: updates.install(self.settings()),
            self._update_installed,
            lambda text: self.show_error("Update", text),
        )

    def _update_installed(self, installed: updates.Installed) -> None:
        log.info("restarting into fpw %s", installed.version)
        self.tray.notify("Updates", f"fpw {installed.version} installed; restarting")
        self.relaunch([str(installed.executable), *sys.argv[1:]])

    def _relaunch_after_quit(self, argv: list[str]) -> None:
        self.restart_into = argv
        self.quit()
