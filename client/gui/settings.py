"""The settings window and the first-run walk-through.

Both edit a ``Preferences`` value (``client.userconfig``); the app writes it
and restarts the agent. The key panel shows the client id for the admin to
register and exports/imports the key; it calls back into the app for the
work itself, which runs off the GUI thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
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

from client.userconfig import Preferences
from shared.errors import ConfigError, IntegrityError
from shared.profiles import Catalog, Param, Profile, job_params

INVALID_STYLE = "border: 1px solid #c62828;"
"""How a field that holds an unusable value is marked (with a message beside it)."""

KeyAction = Callable[[Path, str], None]


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


FIELDS_AT = 2
"""The row of the params panel where the chosen profile's fields start (after its description)."""


class ParamsEditor(QWidget):
    """A folder's params: the fleet's profiles as a choice and a form, JSON as the advanced way.

    The profiles come from the fleet (``shared.profiles``); without them only
    the JSON field is offered. Both views edit one params object: the form
    writes the chosen profile's params (keys no known profile declares are
    kept), and JSON typed into the advanced field fills the form once valid.
    """

    changed = Signal(str)
    """The params as JSON text, after every edit (invalid text included)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog: Catalog | None = None
        self.profile = QComboBox()
        self.profile.currentIndexChanged.connect(self._profile_chosen)
        self.description = QLabel("")
        self.description.setWordWrap(True)
        self.description.setTextFormat(Qt.TextFormat.PlainText)  # fleet text, never markup
        self.inputs: dict[str, QWidget] = {}
        self.json = QLineEdit("{}")
        self.json.setToolTip('The params as a JSON object, e.g. {"profile": "summary"}')
        self.json.textEdited.connect(self._json_typed)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setStyleSheet("color: #c62828;")
        self.source = QLabel("")
        self.source.setWordWrap(True)
        self.source.setTextFormat(Qt.TextFormat.PlainText)
        form = QFormLayout()
        form.addRow("Profile", self.profile)
        form.addRow("", self.description)
        # The chosen profile's params go in rows FIELDS_AT.. of this form, aligned with the rest.
        form.addRow("Params (JSON, advanced)", self.json)
        form.addRow("", self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.source)
        layout.addLayout(form)
        self.fields = form
        self._filling = False
        self.set_catalog(None)

    # -- the fleet's profiles ------------------------------------------------

    def set_catalog(self, catalog: Catalog | None, note: str = "") -> None:
        """Offer ``catalog``'s profiles (None: the fleet published none, JSON only)."""
        self.catalog = catalog
        self._filling = True
        self.profile.clear()
        if catalog is not None:
            for p in catalog.profiles:
                self.profile.addItem(p.name, p.name)
                self.profile.setItemData(
                    self.profile.count() - 1, p.description, Qt.ItemDataRole.ToolTipRole
                )
        self._filling = False
        self.profile.setEnabled(catalog is not None)
        if catalog is None:
            self.source.setText(
                note or "The fleet has not published its processing profiles: params are JSON."
            )
        else:
            origin = " ".join(x for x in (catalog.processor, catalog.version) if x)
            self.source.setText(f"Profiles offered by the fleet's processor {origin}".strip())
        self._fill(self._parsed() or {})
        self._mark(self.problem(), self.json)  # params saved before may name a profile gone

    # -- reading and writing ----------------------------------------------------

    def set_params(self, params: dict[str, Any]) -> None:
        self.json.setText(json.dumps(params))
        self._fill(params)
        self._mark(None)

    def text(self) -> str:
        return self.json.text()

    def _parsed(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.json.text() or "{}")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _chosen(self) -> Profile | None:
        if self.catalog is None:
            return None
        return self.catalog.find(str(self.profile.currentData() or ""))

    def _fill(self, params: dict[str, Any]) -> None:
        """Show ``params`` in the form: its profile chosen, its values in the fields."""
        self._filling = True
        try:
            name = params.get("profile") or "default"
            index = self.profile.findData(name) if isinstance(name, str) else -1
            if index >= 0:
                self.profile.setCurrentIndex(index)
            self._build(self._chosen(), params)
        finally:
            self._filling = False

    def _build(self, profile: Profile | None, params: dict[str, Any]) -> None:
        for _ in self.inputs:
            self.fields.removeRow(FIELDS_AT)
        self.inputs = {}
        self.description.setText(profile.description if profile else "")
        for param in profile.params if profile else ():
            widget = _input(param, params.get(param.name))
            widget.setToolTip(param.description)
            if isinstance(widget, QCheckBox):
                widget.toggled.connect(self._form_edited)
            elif isinstance(widget, QComboBox):
                widget.currentIndexChanged.connect(self._form_edited)
            elif isinstance(widget, QLineEdit):
                widget.textEdited.connect(self._form_edited)
            label = QLabel(param.name)
            label.setToolTip(param.description)
            self.fields.insertRow(FIELDS_AT + len(self.inputs), label, widget)
            self.inputs[param.name] = widget

    # -- edits ----------------------------------------------------------------------

    def _profile_chosen(self) -> None:
        if self._filling:
            return
        self._filling = True
        try:
            self._build(self._chosen(), {})
        finally:
            self._filling = False
        self._form_edited()

    def _form_edited(self) -> None:
        if self._filling:
            return
        profile = self._chosen()
        if profile is None:
            return
        values: dict[str, Any] = {}
        for param in profile.params:
            widget = self.inputs[param.name]
            try:
                value = _value(param, widget)
            except IntegrityError as exc:
                self._mark(str(exc), widget)
                return
            if value is not None and value != param.default:
                values[param.name] = value
        # Keys that no profile of the fleet declares were typed by hand: keep them.
        known = {q.name for p in (self.catalog.profiles if self.catalog else ()) for q in p.params}
        extra = {
            k: v for k, v in (self._parsed() or {}).items() if k != "profile" and k not in known
        }
        self.json.setText(json.dumps({**job_params(profile.name, values), **extra}))
        self._mark(None)
        self.changed.emit(self.json.text())

    def _json_typed(self) -> None:
        problem = self.problem()
        self._mark(problem, self.json)
        if problem is None:
            self._fill(self._parsed() or {})
        self.changed.emit(self.json.text())

    def problem(self) -> str | None:
        """What is wrong with the JSON field's params, or None when they are usable."""
        try:
            value = json.loads(self.json.text() or "{}")
        except ValueError as exc:
            return f"not valid JSON: {exc}"
        if not isinstance(value, dict):
            return 'the params must be a JSON object, like {"profile": "summary"}'
        if self.catalog is None:
            return None
        name = value.get("profile") or "default"
        profile = self.catalog.find(name) if isinstance(name, str) else None
        if profile is None:
            known = ", ".join(p.name for p in self.catalog.profiles)
            return f"unknown profile {name!r}; the fleet offers: {known}"
        for param in profile.params:
            if param.name in value:
                try:
                    param.check(value[param.name])
                except IntegrityError as exc:
                    return str(exc)
        return None

    def _mark(self, problem: str | None, widget: QWidget | None = None) -> None:
        for each in [self.json, *self.inputs.values()]:
            each.setStyleSheet("")
        self.message.setText(problem or "")
        self.message.setVisible(bool(problem))
        if problem and widget is not None:
            widget.setStyleSheet(INVALID_STYLE)


def _input(param: Param, value: Any) -> QWidget:
    """The widget for one param, showing ``value`` (or the param's default)."""
    current = param.default if value is None else value
    if param.type == "boolean":
        box = QCheckBox()
        box.setChecked(bool(current))
        return box
    if param.choices:
        combo = QComboBox()
        combo.addItem("", None)
        for choice in param.choices:
            combo.addItem(choice, choice)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        return combo
    edit = QLineEdit()
    if param.type == "array":
        edit.setPlaceholderText("comma-separated, e.g. 1-2, 3-")
        if isinstance(value, list):
            edit.setText(", ".join(str(v) for v in value))
    else:
        if param.default is not None:
            edit.setPlaceholderText(str(param.default))
        if value is not None:
            edit.setText(str(value))
    return edit


def _value(param: Param, widget: QWidget) -> Any:
    """The value a widget holds for ``param`` (None: left blank); ``IntegrityError`` if unusable."""
    value: Any
    if isinstance(widget, QCheckBox):
        value = widget.isChecked()
    elif isinstance(widget, QComboBox):
        value = widget.currentData()
    else:
        assert isinstance(widget, QLineEdit)
        text = widget.text().strip()
        if not text:
            return None
        if param.type == "array":
            value = [part.strip() for part in text.split(",") if part.strip()]
        elif param.type in ("integer", "number"):
            try:
                value = int(text) if param.type == "integer" else float(text)
            except ValueError:
                raise IntegrityError(f"{param.name} must be a number") from None
        else:
            value = text
    return None if value is None else param.check(value)


class SettingsForm(QWidget):
    """Folders (each with its params), results, done, connection, concurrency, login."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folders = QTableWidget(0, 2)
        self.folders.setHorizontalHeaderLabels(["Watched folder", "Processing params"])
        self.folders.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.folders.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
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
        remove.clicked.connect(self._remove_folder)
        self.results = QLineEdit()
        self.results.setPlaceholderText("<first watched folder>/results")
        self.done = QLineEdit()
        self.done.setPlaceholderText("done/ inside each watched folder")
        self.profile = QLineEdit()
        self.profile.setPlaceholderText("default credentials")
        self.endpoint = QLineEdit()
        self.endpoint.setPlaceholderText("AWS itself")
        self.region = QLineEdit()
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, 32)
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

    def set_catalog(self, catalog: Catalog | None, note: str = "") -> None:
        """The profiles the fleet offers (read off the GUI thread by the app)."""
        self.params.set_catalog(catalog, note)

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
        item = self.folders.item(row, 1) if row >= 0 else None
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

    def _remove_folder(self) -> None:
        row = self.folders.currentRow()
        if row >= 0:
            self.folders.removeRow(row)

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
        row = self.folders.currentRow()
        problem = self.params.problem() if row >= 0 else None
        chosen = self.folders.item(row, 0) if row >= 0 else None
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
        self.client_id = QLineEdit()
        self.client_id.setReadOnly(True)
        self.where = QLabel("")
        self.where.setWordWrap(True)
        copy = QPushButton("Copy")
        copy.clicked.connect(self.copy_id)
        export = QPushButton("Export key…")
        export.clicked.connect(self._export)
        import_ = QPushButton("Import key…")
        import_.clicked.connect(self._import)
        id_row = QHBoxLayout()
        id_row.addWidget(self.client_id, 1)
        id_row.addWidget(copy)
        actions = QHBoxLayout()
        actions.addWidget(export)
        actions.addWidget(import_)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("This computer's client id (the administrator registers it):"))
        layout.addLayout(id_row)
        layout.addWidget(self.where)
        note = QLabel(
            "Results are encrypted to this computer's key. Export it (protected by a "
            "passphrase) and keep the file safe: importing it on a replacement computer "
            "lets that computer read the results. Importing replaces the current key."
        )
        note.setWordWrap(True)
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
        first, ok = QInputDialog.getText(
            self, "Export key", "Passphrase (8 characters or more):", QLineEdit.EchoMode.Password
        )
        if not ok:
            return
        second, ok = QInputDialog.getText(
            self, "Export key", "The passphrase again:", QLineEdit.EchoMode.Password
        )
        if not ok:
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
        passphrase, ok = QInputDialog.getText(
            self, "Import key", "Passphrase of the key file:", QLineEdit.EchoMode.Password
        )
        if ok:
            self.on_import(Path(source), passphrase)


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
        try:
            self.result_prefs = self.form.preferences()
        except ConfigError as exc:
            QMessageBox.warning(self, "Settings", str(exc))
            return
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
        welcome = QWizardPage()
        welcome.setTitle("Welcome")
        text = QLabel(
            "fpw sends the files you drop into a watched folder for analysis and puts "
            "each result, readable only by this computer, into a results folder.\n\n"
            "The next pages set the folders, the connection and this computer's key."
        )
        text.setWordWrap(True)
        QVBoxLayout(welcome).addWidget(text)
        self.form = SettingsForm()
        self.form.load(prefs, autostart=False)
        folders = QWizardPage()
        folders.setTitle("Folders and connection")
        QVBoxLayout(folders).addWidget(self.form)
        self.keys = KeyPanel(lambda _p, _s: None, on_import)
        key_page = _KeyPage(self)
        key_page.setTitle("This computer's key")
        QVBoxLayout(key_page).addWidget(self.keys)
        self.addPage(welcome)
        self.addPage(folders)
        self.addPage(key_page)
        self.result_prefs: Preferences | None = None

    def validateCurrentPage(self) -> bool:
        if self.currentPage() is not None and self.currentId() == 1:
            try:
                self.result_prefs = self.form.preferences()
            except ConfigError as exc:
                QMessageBox.warning(self, "Settings", str(exc))
                return False
        return super().validateCurrentPage()


class _KeyPage(QWizardPage):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self._wizard = wizard

    def initializePage(self) -> None:
        client_id, where = self._wizard.create_key()
        self._wizard.keys.show_key(client_id, where)
