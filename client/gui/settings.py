"""The settings window and the first-run walk-through (the params editor is in
``client.gui.params``, the key panel in ``client.gui.keypanel``; what the app
does with them in ``client.gui.app_settings``).

Both edit a ``Preferences`` value (``client.userconfig``); the app writes it
and restarts the agent. The key panel shows the client id for the admin to
register and exports/imports the key; it calls back into the app for the
work itself, which runs off the GUI thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from client.gui.keypanel import KeyAction, KeyPanel
from client.gui.params import ParamsEditor
from client.userconfig import Preferences
from shared.errors import ConfigError


def _browse_row(edit: QLineEdit, parent: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse…")

    def pick() -> None:
        folder = QFileDialog.getExistingDirectory(parent, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    button.clicked.connect(pick)
    layout.addWidget(button)
    return row


class SettingsForm(QWidget):
    """Folders (each with its params), results, done, connection, concurrency, login."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folders = QTableWidget(0, 2)
        self.folders.setHorizontalHeaderLabels(["Watched folder", "Processing params"])
        self.folders.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.folders.verticalHeader().hide()
        self.folders.currentCellChanged.connect(self._folder_chosen)
        self.params = ParamsEditor()
        self.params.changed.connect(self._params_edited)
        self.params_box = QGroupBox("Processing of the selected folder")
        QVBoxLayout(self.params_box).addWidget(self.params)
        self.params_box.setEnabled(False)
        add = QPushButton("Add folder…")
        remove = QPushButton("Remove folder")
        add.clicked.connect(self._pick_folder)
        remove.clicked.connect(lambda: self.folders.removeRow(self.folders.currentRow()))
        self.results = QLineEdit(placeholderText="<first watched folder>/results")
        self.done = QLineEdit(placeholderText="done/ inside each watched folder")
        self.profile = QLineEdit(placeholderText="default credentials")
        self.endpoint = QLineEdit(placeholderText="AWS itself")
        self.region = QLineEdit()
        self.concurrency = QSpinBox(minimum=1, maximum=32)
        self.autostart = QCheckBox("Start fpw when I log in")
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        form = QFormLayout()
        form.addRow("Results folder", _browse_row(self.results, self))
        form.addRow("Done folder", _browse_row(self.done, self))
        form.addRow("AWS profile", self.profile)
        form.addRow("Endpoint URL", self.endpoint)
        form.addRow("Region", self.region)
        form.addRow("Parallel uploads", self.concurrency)
        form.addRow("", self.autostart)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Files dropped in these folders are sent with their params:"))
        layout.addWidget(self.folders, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.params_box)
        layout.addLayout(form)

    def add_folder(self, folder: str, params: dict[str, Any] | None = None) -> None:
        row = self.folders.rowCount()
        self.folders.insertRow(row)
        self.folders.setItem(row, 0, QTableWidgetItem(folder))
        shown = QTableWidgetItem(json.dumps(params or {}))
        # Edited in the panel below, where the form and the JSON check it.
        shown.setFlags(shown.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.folders.setItem(row, 1, shown)
        self.folders.setCurrentCell(row, 0)

    def _folder_chosen(self, row: int, *_: int) -> None:
        item = self.folders.item(row, 1)
        self.params_box.setEnabled(item is not None)
        if item is None:
            return
        try:
            params = json.loads(item.text() or "{}")
        except ValueError:
            params = None
        if isinstance(params, dict):
            self.params.set_params(params)
        else:
            self.params.json.setText(item.text())
            self.params._json_typed()

    def _params_edited(self, text: str) -> None:
        item = self.folders.item(self.folders.currentRow(), 1)
        if item is not None:
            item.setText(text)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder to watch")
        if folder:
            self.add_folder(folder)

    def load(self, prefs: Preferences, autostart: bool) -> None:
        self.folders.setRowCount(0)
        for folder, params in prefs.folders:
            self.add_folder(folder, params)
        self.results.setText(prefs.results)
        self.done.setText(prefs.done)
        self.profile.setText(prefs.aws_profile)
        self.endpoint.setText(prefs.endpoint_url)
        self.region.setText(prefs.region)
        self.concurrency.setValue(prefs.concurrency)
        self.autostart.setChecked(autostart)

    def preferences(self) -> Preferences:
        """The form's values; ``ConfigError`` names the first bad one."""
        folders: list[tuple[str, dict[str, Any]]] = []
        for row in range(self.folders.rowCount()):
            folder_item, params_item = self.folders.item(row, 0), self.folders.item(row, 1)
            folder = folder_item.text().strip() if folder_item else ""
            if not folder:
                continue
            text = params_item.text().strip() if params_item else ""
            try:
                params = json.loads(text) if text else {}
            except json.JSONDecodeError as exc:
                raise ConfigError(f"the params of {folder} are not valid JSON: {exc}") from exc
            if not isinstance(params, dict):
                raise ConfigError(f"the params of {folder} must be a JSON object")
            folders.append((folder, params))
        if not folders:
            raise ConfigError("add at least one folder to watch")
        chosen = self.folders.item(self.folders.currentRow(), 0)  # None when none is
        problem = self.params.problem()
        if problem and chosen is not None:
            raise ConfigError(f"the params of {chosen.text().strip()}: {problem}")
        return Preferences(
            folders=folders,
            results=self.results.text().strip(),
            done=self.done.text().strip(),
            aws_profile=self.profile.text().strip(),
            endpoint_url=self.endpoint.text().strip(),
            region=self.region.text().strip() or "us-east-1",
            concurrency=self.concurrency.value(),
        )


class SettingsDialog(QDialog):
    def __init__(
        self,
        prefs: Preferences,
        autostart: bool,
        on_export: KeyAction,
        on_import: KeyAction,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("fpw: settings")
        self.resize(720, 520)
        self.form = SettingsForm()
        self.form.load(prefs, autostart)
        self.keys = KeyPanel(on_export, on_import)
        tabs = QTabWidget()
        tabs.addTab(self.form, "General")
        tabs.addTab(self.keys, "Key")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.buttons)
        self.result_prefs: Preferences | None = None

    def _save(self) -> None:
        self.result_prefs = _checked(self.form, self)
        if self.result_prefs is not None:
            self.accept()


class FirstRunWizard(QWizard):
    """Welcome, folders and connection, then the key pair (created on entering the page)."""

    def __init__(
        self,
        prefs: Preferences,
        create_key: Callable[[], tuple[str, str]],
        on_import: KeyAction,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to fpw")
        self.resize(720, 560)
        self.create_key = create_key
        welcome = QLabel(
            "fpw sends the files you drop into a watched folder for analysis and puts "
            "each result, readable only by this computer, into a results folder.\n\n"
            "The next pages set the folders, the connection and this computer's key.",
            wordWrap=True,
        )
        self.form = SettingsForm()
        self.form.load(prefs, autostart=False)
        self.keys = KeyPanel(lambda _p, _s: None, on_import)
        for title, widget in (
            ("Welcome", welcome),
            ("Folders and connection", self.form),
            ("This computer's key", self.keys),
        ):
            page = QWizardPage()
            page.setTitle(title)
            QVBoxLayout(page).addWidget(widget)
            self.addPage(page)
        self.result_prefs: Preferences | None = None

    def validateCurrentPage(self) -> bool:
        if self.currentId() == 1:
            self.result_prefs = _checked(self.form, self)
            if self.result_prefs is None:
                return False
        return super().validateCurrentPage()

    def initializePage(self, id: int) -> None:  # noqa: A002 (Qt's name)
        """Entering the last page creates the key (or finds the one there is) and shows it."""
        super().initializePage(id)
        if id == 2:
            self.keys.show_key(*self.create_key())


def _checked(form: SettingsForm, parent: QWidget) -> Preferences | None:
    """The form's values, or None once a message has said what is wrong."""
    try:
        return form.preferences()
    except ConfigError as exc:
        QMessageBox.warning(parent, "Settings", str(exc))
        return None
