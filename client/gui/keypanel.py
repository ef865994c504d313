"""The key panel: this computer's client id, where its key is kept, and the
passphrase-protected export and import (the work runs in the app, off the GUI
thread)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

KeyAction = Callable[[Path, str], None]


class KeyPanel(QWidget):
    """The client id to register, where the key is kept, export and import."""

    def __init__(
        self,
        on_export: KeyAction,
        on_import: KeyAction,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.on_export = on_export
        self.on_import = on_import
        self.client_id = QLineEdit(readOnly=True)
        self.where = QLabel("", wordWrap=True)
        copy = QPushButton("Copy")
        copy.clicked.connect(self.copy_id)
        id_row = QHBoxLayout()
        id_row.addWidget(self.client_id, 1)
        id_row.addWidget(copy)
        actions = QHBoxLayout()
        for text, act in (("Export key…", self._export), ("Import key…", self._import)):
            button = QPushButton(text)
            button.clicked.connect(act)
            actions.addWidget(button)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("This computer's client id (the administrator registers it):"))
        layout.addLayout(id_row)
        layout.addWidget(self.where)
        note = QLabel(
            "Results are encrypted to this computer's key. Export it (protected by a "
            "passphrase) and keep the file safe: importing it on a replacement computer "
            "lets that computer read the results. Importing replaces the current key.",
            wordWrap=True,
        )
        layout.addWidget(note)
        layout.addLayout(actions)
        layout.addStretch(1)

    def show_key(self, client_id: str, where: str) -> None:
        self.client_id.setText(client_id)
        self.where.setText(f"The private key is kept in {where}.")

    def copy_id(self) -> None:
        QApplication.clipboard().setText(self.client_id.text())

    def _export(self) -> None:
        target, _ = QFileDialog.getSaveFileName(self, "Export key", "fpw-key.pem")
        if not target:
            return
        first = self._passphrase("Export key", "Passphrase (8 characters or more):")
        if first is None:
            return
        second = self._passphrase("Export key", "The passphrase again:")
        if second is None:
            return
        if first != second:
            QMessageBox.warning(self, "Export key", "The two passphrases differ.")
            return
        self.on_export(Path(target), first)

    def _import(self) -> None:
        source, _ = QFileDialog.getOpenFileName(self, "Import key", "", "Key files (*.pem)")
        if not source:
            return
        answer = QMessageBox.question(
            self,
            "Import key",
            "The imported key replaces this computer's key. Results of jobs sent with the "
            "current key can then no longer be read here. Go on?",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        passphrase = self._passphrase("Import key", "Passphrase of the key file:")
        if passphrase is not None:
            self.on_import(Path(source), passphrase)

    def _passphrase(self, title: str, label: str) -> str | None:
        """A passphrase typed unseen, or None when the user cancels."""
        text, ok = QInputDialog.getText(self, title, label, QLineEdit.EchoMode.Password)
        return text if ok else None
