"""Show one result as a page a person reads: summary and key facts first,
tables as tables, the text page by page and searchable; for an image, the
picture with the OCR boxes drawn over it beside the recognised lines; the raw
JSON one tab away. Text results are shown as text, images as images, anything
else described; with "open file", "show in folder" and "open as report".

The page comes from ``client.report`` (the same one the HTML report holds);
it is shown in a browser widget that loads nothing, neither files nor
network. The bytes (and the original picture, when found) are read by the
caller off the GUI thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QUrl, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from client import markup, report

KINDS = {
    ".json": "json",
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"), "image"),
    **dict.fromkeys((".txt", ".md", ".csv", ".log"), "text"),
}
"""What each file suffix is shown as (anything else: "binary", described)."""
MAX_CANVAS_SIDE = 4096
"""A blank canvas for boxes without their picture is scaled to at most this."""

Editor = QTextEdit | QPlainTextEdit


def pretty(data: bytes) -> str:
    """Indented JSON, or the text as it is when it does not parse."""
    text = data.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


class SafeBrowser(QTextBrowser):
    """A rich-text view that fetches nothing: no files, no network, no links followed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, openLinks=False, openExternalLinks=False)

    def loadResource(self, type: int, name: QUrl | str) -> Any:  # noqa: A002 (Qt's name)
        return None


def boxes_pixmap(result: Any, picture: report.Picture | None) -> tuple[QPixmap | None, bool]:
    """The picture (or a blank canvas of its size) with each OCR line's box and
    number, and whether it is the picture (False: the canvas)."""
    analysis = result.get("analysis") if isinstance(result, dict) else None
    width = markup.finite(analysis.get("width")) if isinstance(analysis, dict) else None
    height = markup.finite(analysis.get("height")) if isinstance(analysis, dict) else None
    pixmap = QPixmap()
    scale = 1.0
    drawn_over = picture is not None and pixmap.loadFromData(picture.data)
    if not drawn_over:
        if width is None or height is None or width <= 0 or height <= 0:
            return None, False
        scale = min(1.0, MAX_CANVAS_SIDE / max(width, height))
        pixmap = QPixmap(max(1, int(width * scale)), max(1, int(height * scale)))
        pixmap.fill(QColor("#eeeeee"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor("#e53935"), max(1.0, pixmap.width() / 400)))
    painter.setBrush(QBrush(QColor(255, 235, 59, 64)))
    font = QFont()
    font.setPixelSize(max(10, pixmap.width() // 60))
    font.setBold(True)
    painter.setFont(font)
    for number, (_text, _conf, box) in enumerate(report.ocr_lines(result), start=1):
        if box is None:
            continue
        polygon = QPolygonF([QPointF(x * scale, y * scale) for x, y in box])
        painter.drawPolygon(polygon)
        corner = polygon.boundingRect().topLeft()
        label = QRectF(corner.x(), max(0.0, corner.y() - font.pixelSize() - 2), 200, 200)
        painter.drawText(label, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, str(number))
    painter.end()
    return pixmap, drawn_over


class FitPicture(QLabel):
    """A picture scaled down to the room it has (never up); ``full`` keeps every pixel."""

    def __init__(self, full: QPixmap, parent: QWidget | None = None) -> None:
        super().__init__(parent, alignment=Qt.AlignmentFlag.AlignCenter)
        self.full = full
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(1, 1)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.full.isNull():
            return
        room = self.size().boundedTo(self.full.size())
        self.setPixmap(
            self.full.scaled(
                room,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )


class ResultViewer(QDialog):
    open_file = Signal(object)
    show_in_folder = Signal(object)
    save_report = Signal(object, str)
    """(where, the standalone HTML): the app writes the report and opens it."""

    def __init__(
        self,
        path: Path,
        data: bytes,
        parent: QWidget | None = None,
        *,
        picture: report.Picture | None = None,
    ) -> None:
        super().__init__(parent)
        self.path = path
        self.data = data
        self.kind = KINDS.get(path.suffix.lower(), "binary")
        self.picture = picture
        self.result: Any = None
        self.setWindowTitle(f"fpw: {path.name}")
        self.resize(820, 640)
        layout = QVBoxLayout(self)
        self.text: QPlainTextEdit | None = None
        """The raw result (JSON indented) or the text result."""
        self.page: SafeBrowser | None = None
        """The rendered page of a JSON result."""
        self.tabs: QTabWidget | None = None
        self.picture_label: FitPicture | None = None
        self.picture_note: QLabel | None = None
        self.lines_text: QPlainTextEdit | None = None
        self.search: QLineEdit | None = None
        self.found = QLabel("")
        self.matches = 0
        if self.kind in ("json", "text"):
            self.search = QLineEdit(placeholderText="Search…")
            self.search.textChanged.connect(self.highlight)
            self.search.returnPressed.connect(self.find_next)
            bar = QHBoxLayout()
            bar.addWidget(self.search, 1)
            bar.addWidget(self.found)
            layout.addLayout(bar)
            self.text = QPlainTextEdit(
                pretty(data) if self.kind == "json" else data.decode("utf-8", "replace"),
                readOnly=True,
                lineWrapMode=QPlainTextEdit.LineWrapMode.NoWrap,
            )
            font = self.text.font()
            font.setFamily("monospace")
            self.text.setFont(font)
            if self.kind == "json":
                layout.addWidget(self._json_tabs(data), 1)
            else:
                layout.addWidget(self.text, 1)
        elif self.kind == "image":
            pixmap = QPixmap()
            pixmap.loadFromData(data)
            scroll = QScrollArea(widgetResizable=True)
            scroll.setWidget(QLabel(pixmap=pixmap, alignment=Qt.AlignmentFlag.AlignCenter))
            layout.addWidget(scroll, 1)
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
        self.report_button: QPushButton | None = None
        if self.kind == "json":
            self.report_button = QPushButton("Open as report")
            self.report_button.setToolTip(
                f"Save this page as {report.report_path(path).name} beside the result"
                " (one file, readable and printable in any browser) and open it"
            )
            self.report_button.clicked.connect(
                lambda: self.save_report.emit(report.report_path(path), self.report_html())
            )
            buttons.addWidget(self.report_button)
        for button in (open_button, folder_button, close_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

    # -- a JSON result --------------------------------------------------

    def _json_tabs(self, data: bytes) -> QTabWidget:
        assert self.text is not None
        self.result = report.load(data)
        self.tabs = QTabWidget()
        self.page = SafeBrowser()
        self.page.setHtml(report.render(self.result, name=_name(self.path), standalone=False))
        self.tabs.addTab(self.page, "Result")
        if isinstance(self.result, dict) and self.result.get("kind") == "image":
            self.tabs.addTab(self._picture_tab(), "Picture")
        self.tabs.addTab(self.text, "Raw JSON")
        self.tabs.currentChanged.connect(lambda _i: self.highlight(self._needle()))
        return self.tabs

    def _picture_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        pixmap, drawn_over = boxes_pixmap(self.result, self.picture)
        if drawn_over:
            note = "The boxes show where each numbered line was read."
        elif self.picture is not None:
            note = "The original image cannot be shown here; the boxes are drawn alone."
        else:
            note = (
                "The original image is not here (it is looked for where the file was moved"
                " after sending, e.g. done/); the boxes are drawn alone."
            )
        self.picture_note = QLabel(note, wordWrap=True)
        layout.addWidget(self.picture_note)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.picture_label = FitPicture(pixmap or QPixmap())
        if pixmap is None:
            self.picture_label.setText("The result does not say the picture's size.")
        split.addWidget(self.picture_label)
        lines = report.ocr_lines(self.result)
        self.lines_text = QPlainTextEdit(
            "\n".join(
                f"{n}. {text}" + ("" if conf is None else f"  ({conf * 100:.0f} %)")
                for n, (text, conf, _box) in enumerate(lines, start=1)
            )
            or "No text was recognised.",
            readOnly=True,
        )
        split.addWidget(self.lines_text)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout.addWidget(split, 1)
        return tab

    def report_html(self) -> str:
        """The standalone report: the same page, with the picture inlined."""
        return report.render(self.result, name=_name(self.path), picture=self.picture)

    # -- search ---------------------------------------------------------

    def _needle(self) -> str:
        return self.search.text() if self.search is not None else ""

    def current_editor(self) -> Editor | None:
        """The text the search box works on: the shown tab's."""
        if self.tabs is None:
            return self.text
        widget = self.tabs.currentWidget()
        if isinstance(widget, QTextEdit | QPlainTextEdit):
            return widget
        return self.lines_text

    def highlight(self, needle: str) -> int:
        """Highlight every match of ``needle`` in the shown tab and go to the first."""
        editor = self.current_editor()
        if editor is None:
            return 0
        document = editor.document()
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
        editor.setExtraSelections(selections)
        self.matches = len(selections)
        self.found.setText(f"{self.matches} found" if needle else "")
        editor.moveCursor(QTextCursor.MoveOperation.Start)
        if needle:
            editor.find(needle)
        return self.matches

    def find_next(self) -> None:
        editor = self.current_editor()
        needle = self._needle()
        if editor is None or not needle:
            return
        if not editor.find(needle):
            editor.moveCursor(QTextCursor.MoveOperation.Start)
            editor.find(needle, QTextDocument.FindFlag(0))


def _name(path: Path) -> str:
    """The original file's name, from its result's (``scan.png.result.json``)."""
    return path.name.removesuffix(".result.json")
