"""Processing params in the settings: the fleet's profiles as a form, JSON as the advanced field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from client.gui.params import INVALID_STYLE
from client.gui.settings import SettingsForm
from infra.local.stack import LocalStack
from processor.analysis import catalog as reference_catalog
from shared import profiles
from shared.aws import Aws
from shared.errors import ConfigError
from tests.gui.conftest import MakeApp, write_config

CATALOG = profiles.parse(reference_catalog(llm=True))


def _form(qtbot: QtBot, params: dict[str, object] | None = None) -> SettingsForm:
    form = SettingsForm()
    qtbot.addWidget(form)
    form.params.set_catalog(CATALOG)
    form.add_folder("/data/scans", params or {})
    return form


def _cell(form: SettingsForm) -> object:
    item = form.folders.item(form.folders.currentRow(), 1)
    assert item is not None
    return json.loads(item.text())


def _labels(form: SettingsForm) -> list[str]:
    """The params the form shows, by their labels, in order."""
    found = []
    for widget in form.params.inputs.values():
        label = form.params.fields.labelForField(widget)
        assert isinstance(label, QLabel) and label.isVisibleTo(form)
        found.append(label.text())
    return found


def test_the_fleets_profiles_are_a_choice_with_descriptions_and_a_form(qtbot: QtBot) -> None:
    form = _form(qtbot)
    editor = form.params
    names = [editor.profile.itemText(i) for i in range(editor.profile.count())]
    assert names == ["default", "metadata", "ocr", "summary", "llm"]
    assert editor.profile.currentText() == "default"
    assert "fpw-reference" in editor.source.text()
    assert "everything local" in editor.description.text()
    assert _labels(form) == ["split"]

    editor.profile.setCurrentIndex(editor.profile.findData("llm"))
    assert "language model" in editor.description.text()
    assert _labels(form) == ["prompt", "split"]
    prompt = editor.inputs["prompt"]
    assert isinstance(prompt, QLineEdit) and prompt.placeholderText().startswith("Summarise")
    assert _cell(form) == {"profile": "llm"}

    QTest.keyClicks(prompt, "List the invoices.")
    split = editor.inputs["split"]
    assert isinstance(split, QLineEdit)
    QTest.keyClicks(split, "1-2, 3-")
    wanted = {"profile": "llm", "prompt": "List the invoices.", "split": ["1-2", "3-"]}
    assert json.loads(editor.json.text()) == wanted and _cell(form) == wanted
    assert form.preferences().folders == [("/data/scans", wanted)]

    editor.profile.setCurrentIndex(editor.profile.findData("metadata"))
    assert _labels(form) == [] and _cell(form) == {"profile": "metadata"}


def test_json_typed_in_the_advanced_field_is_checked_as_it_is_typed(qtbot: QtBot) -> None:
    form = _form(qtbot, {"profile": "summary", "lang": "de"})
    editor = form.params
    assert editor.profile.currentText() == "summary"

    editor.json.clear()
    QTest.keyClicks(editor.json, '{"profile": "summary", "split": ["2-"')
    assert editor.json.styleSheet() == INVALID_STYLE
    assert editor.message.isVisibleTo(form) and "not valid JSON" in editor.message.text()
    with pytest.raises(ConfigError, match="not valid JSON"):
        form.preferences()

    QTest.keyClicks(editor.json, "]}")
    assert editor.json.styleSheet() == "" and not editor.message.isVisibleTo(form)
    split = editor.inputs["split"]
    assert isinstance(split, QLineEdit) and split.text() == "2-"
    assert _cell(form) == {"profile": "summary", "split": ["2-"]}

    for typed, words in (
        ('{"profile": "everything"}', "unknown profile 'everything'; the fleet offers: default"),
        ('{"profile": "llm", "prompt": 5}', "prompt must be a text"),
        ('["summary"]', "must be a JSON object"),
    ):
        editor.json.clear()
        QTest.keyClicks(editor.json, typed)
        assert editor.json.styleSheet() == INVALID_STYLE and words in editor.message.text()
    with pytest.raises(ConfigError, match="params of /data/scans"):
        form.preferences()


def test_keys_typed_by_hand_stay_when_the_form_is_used(qtbot: QtBot) -> None:
    form = _form(qtbot, {"profile": "ocr", "lang": "de"})
    split = form.params.inputs["split"]
    assert isinstance(split, QLineEdit)
    QTest.keyClicks(split, "5")
    assert _cell(form) == {"profile": "ocr", "split": ["5"], "lang": "de"}


def test_without_published_profiles_params_are_json_only(qtbot: QtBot) -> None:
    form = SettingsForm()
    qtbot.addWidget(form)
    form.add_folder("/data/any", {"profile": "whatever", "n": 1})
    editor = form.params
    assert not editor.profile.isEnabled() and editor.profile.count() == 0
    assert "not published" in editor.source.text() and not editor.inputs
    assert editor.problem() is None  # nothing to check against: the processor will
    assert form.preferences().folders == [("/data/any", {"profile": "whatever", "n": 1})]
    assert not any(isinstance(w, QCheckBox) for w in editor.inputs.values())


def test_the_settings_window_offers_the_profiles_the_fleet_published(
    qtbot: QtBot, stack: LocalStack, make_app: MakeApp, tmp_path: Path
) -> None:
    published = profiles.parse(reference_catalog(llm=False))
    fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
    profiles.publish(fetcher.s3, stack.outputs["Bucket"], published)
    app = make_app(write_config(stack, tmp_path))
    dialog = app.show_settings()
    qtbot.addWidget(dialog)
    editor = dialog.form.params
    qtbot.waitUntil(lambda: editor.catalog is not None, timeout=30_000)
    names = [editor.profile.itemText(i) for i in range(editor.profile.count())]
    assert names == [p.name for p in published.profiles]
    dialog.reject()
