"""The "a new version is available" window: version, release notes, and an
install button that is the only way an update gets installed.

Non-modal, so the agent's signals keep flowing while it is open.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from client.updates import UpdateInfo


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
        self.buttonClicked.connect(self._clicked)

    def _clicked(self, button: object) -> None:
        if button is self.install_button:
            self.install.emit()
