"""Show one result: JSON pretty-printed and searchable, text as text,
images as images, anything else described; with "open file" and "show in
folder". The bytes are read by the caller off the GUI thread.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
TEXT_SUFFIXES = {".txt", ".md", ".csv", ".log"}


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return "binary"


def pretty(data: bytes) -> str:
    """Indented JSON, or the text as it is when it does not parse."""
    text = data.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


class ResultViewer(QDialog):
    open_file = Signal(object)
    show_in_folder = Signal(object)

    def __init__(self, path: Path, data: bytes, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.kind = kind_of(path)
        self.setWindowTitle(f"fpw: {path.name}")
        self.resize(720, 560)
        layout = QVBoxLayout(self)
        self.text: QPlainTextEdit | None = None
        self.search: QLineEdit | None = None
        self.matches = 0
        if self.kind in ("json", "text"):
            self.search = QLineEdit()
            self.search.setPlaceholderText("Search…")
            self.search.textChanged.connect(self.highlight)
            self.search.returnPressed.connect(self.find_next)
            self.found = QLabel("")
            bar = QHBoxLayout()
            bar.addWidget(self.search, 1)
            bar.addWidget(self.found)
            layout.addLayout(bar)
            self.text = QPlainTextEdit(pretty(data) if self.kind == "json" else _text(data))
            self.text.setReadOnly(True)
            self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            font = self.text.font()
            font.setFamily("monospace")
            self.text.setFont(font)
            layout.addWidget(self.text, 1)
        elif self.kind == "image":
            pixmap = QPixmap()
            pixmap.loadFromData(data)
            label = QLabel()
            label.setPixmap(pixmap)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            scroll = QScrollArea()
            scroll.setWidget(label)
            scroll.setWidgetResizable(True)
            layout.addWidget(scroll, 1)
            self.image = label
        else:
            layout.addWidget(QLabel(f"{path.name}: {len(data)} bytes; open it with its own app."))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        open_button = QPushButton("Open file")
        folder_button = QPushButton("Show in folder")
        close_button = QPushButton("Close")
        open_button.clicked.connect(lambda: self.open_file.emit(self.path))
        folder_button.clicked.connect(lambda: self.show_in_folder.emit(self.path))
        close_button.clicked.connect(self.accept)
        for button in (open_button, folder_button, close_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

    def highlight(self, needle: str) -> int:
        """Highlight every match of ``needle`` and go to the first; returns the count."""
        if self.text is None:
            return 0
        document = self.text.document()
        selections: list[QTextEdit.ExtraSelection] = []
        if needle:
            mark = QTextCharFormat()
            mark.setBackground(QColor("#fff176"))
            cursor = document.find(needle)
            while not cursor.isNull():
                selection = QTextEdit.ExtraSelection()
                selection.cursor = cursor
                selection.format = mark
                selections.append(selection)
                cursor = document.find(needle, cursor)
        self.text.setExtraSelections(selections)
        self.matches = len(selections)
        self.found.setText(f"{self.matches} found" if needle else "")
        self.text.moveCursor(QTextCursor.MoveOperation.Start)
        if needle:
            self.text.find(needle)
        return self.matches

    def find_next(self) -> None:
        if self.text is None or self.search is None or not self.search.text():
            return
        if not self.text.find(self.search.text()):
            self.text.moveCursor(QTextCursor.MoveOperation.Start)
            self.text.find(self.search.text(), QTextDocument.FindFlag(0))


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
