"""A watched folder's processing params: the fleet's profiles as a choice with a
form for their parameters, and JSON as the advanced field, checked as it is typed.

The widgets only collect values; ``shared.profiles`` decides what is valid.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from shared.errors import IntegrityError
from shared.profiles import Catalog, Param, Profile, job_params

INVALID_STYLE = "border: 1px solid #c62828;"
"""How a field that holds an unusable value is marked (with a message beside it)."""

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
        plain = Qt.TextFormat.PlainText  # fleet text, never markup
        self.description = QLabel("", wordWrap=True, textFormat=plain)
        self.inputs: dict[str, QWidget] = {}
        self.json = QLineEdit("{}")
        self.json.setToolTip('The params as a JSON object, e.g. {"profile": "summary"}')
        self.json.textEdited.connect(self._json_typed)
        self.message = QLabel("", wordWrap=True, textFormat=plain)
        self.message.setStyleSheet("color: #c62828;")
        self.source = QLabel("", wordWrap=True, textFormat=plain)
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
        for i, p in enumerate(catalog.profiles if catalog else ()):
            self.profile.addItem(p.name, p.name)
            self.profile.setItemData(i, p.description, Qt.ItemDataRole.ToolTipRole)
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
            widget = _input(param, params.get(param.name), self._form_edited)
            widget.setToolTip(param.description)
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


def _input(param: Param, value: Any, edited: Callable[[], None]) -> QWidget:
    """The widget for one param, showing ``value`` (or the param's default); the
    user's edits call ``edited``."""
    current = param.default if value is None else value
    if param.type == "boolean":
        box = QCheckBox()
        box.setChecked(bool(current))
        box.toggled.connect(edited)
        return box
    if param.choices:
        combo = QComboBox()
        combo.addItem("", None)
        for choice in param.choices:
            combo.addItem(choice, choice)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        combo.currentIndexChanged.connect(edited)
        return combo
    edit = QLineEdit()
    edit.textEdited.connect(edited)
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
