"""The jobs window: one row per file, a progress bar through upload, queue,
processing and download, and the actions a finished row allows.

The model only holds ``JobView`` values handed to it by the app (from agent
signals); it never reads the disk or the network itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from client.state import Phase
from client.tracker import JobView, status_line

COLUMNS = ("Name", "Size", "Status", "Progress", "Added", "Finished", "Error")
PROGRESS = COLUMNS.index("Progress")
Index = QModelIndex | QPersistentModelIndex


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def clock_time(when: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when)) if when else ""


FAILED_TEXT = QColor("#c62828")
FAILED_BACKGROUND = QColor("#ffebee")
FAILED_BAR = QColor("#e53935")


def took(view: JobView) -> str:
    if view.finished is None or view.created is None:
        return ""
    seconds = max(0.0, view.finished - view.created)
    return f"{clock_time(view.finished)} ({seconds:.0f} s)"


class JobsModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[JobView] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        view = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                view.name,
                human_size(view.size),
                status_line(view),
                "failed" if view.phase is Phase.FAILED else f"{view.progress:.0f} %",
                clock_time(view.created),
                took(view),
                view.error or "",
            )[column]
        if role == Qt.ItemDataRole.UserRole:
            return view
        if role == Qt.ItemDataRole.ToolTipRole:
            return {0: str(view.path or view.name), 2: status_line(view), 6: view.error}.get(column)
        if view.phase is Phase.FAILED:
            if role == Qt.ItemDataRole.ForegroundRole:
                return FAILED_TEXT
            if role == Qt.ItemDataRole.BackgroundRole:
                return FAILED_BACKGROUND
        return None

    def row_of(self, file_id: str) -> int:
        return next((row for row, view in enumerate(self.rows) if view.file_id == file_id), -1)

    def update(self, view: JobView) -> None:
        """Insert (newest first) or refresh the row of ``view``."""
        row = self.row_of(view.file_id)
        if row < 0:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self.rows.insert(0, view)
            self.endInsertRows()
            return
        self.rows[row] = view
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def remove(self, file_id: str) -> None:
        row = self.row_of(file_id)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.rows[row]
            self.endRemoveRows()

    def reset(self, views: list[JobView]) -> None:
        self.beginResetModel()
        self.rows = sorted(views, key=lambda v: v.created or 0.0, reverse=True)
        self.endResetModel()


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a bar with the step in words."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        view = index.data(Qt.ItemDataRole.UserRole)
        if not isinstance(view, JobView):
            super().paint(painter, option, index)
            return
        failed = view.phase is Phase.FAILED
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = 100
        # A failure's bar is red and says so, never a blue bar stuck part-way.
        bar.progress = 100 if failed else int(view.progress)
        bar.text = index.data()  # the percentage, or "failed"
        bar.textVisible = True
        if failed:
            palette = QPalette(option.palette)
            palette.setColor(QPalette.ColorRole.Highlight, FAILED_BAR)
            palette.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
            bar.palette = palette
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class JobsWindow(QWidget):
    open_result = Signal(object)
    """A ``JobView`` whose result should be shown."""
    show_in_folder = Signal(object)
    retry = Signal(str)
    remove = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("fpw: jobs")
        self.resize(900, 360)
        self.model = JobsModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(PROGRESS, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        modes = QHeaderView.ResizeMode
        header.setSectionResizeMode(0, modes.Stretch)
        header.setSectionResizeMode(len(COLUMNS) - 1, modes.Stretch)
        # A done row's status names each step's time: show it whole.
        header.setSectionResizeMode(COLUMNS.index("Status"), modes.ResizeToContents)
        self.table.setColumnWidth(PROGRESS, 140)
        self.table.doubleClicked.connect(self._double_clicked)
        self.status = QLabel("")
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)

        def button(text: str, act: Callable[[JobView], object]) -> QPushButton:
            """A button that does ``act`` to the selected row."""
            made = QPushButton(text)
            made.clicked.connect(lambda: self._with_selected(act))
            buttons.addWidget(made)
            return made

        self.open_button = button("Open result", self.open_result.emit)
        self.folder_button = button("Show in folder", self.show_in_folder.emit)
        self.retry_button = button("Retry", lambda v: self.retry.emit(v.file_id))
        self.remove_button = button("Remove from list", lambda v: self.remove.emit(v.file_id))
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.table.selectionModel().selectionChanged.connect(self._enable)
        self.model.dataChanged.connect(self._enable)
        self._enable()

    def selected(self) -> JobView | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.rows[rows[0].row()] if rows else None

    def select(self, file_id: str) -> None:
        row = self.model.row_of(file_id)
        if row >= 0:
            self.table.selectRow(row)

    def _with_selected(self, act: Callable[[JobView], object]) -> None:
        view = self.selected()
        if view is not None:
            act(view)

    def _enable(self, *_args: object) -> None:
        view = self.selected()
        done = view is not None and view.phase is Phase.DONE
        failed = view is not None and view.phase is Phase.FAILED
        self.open_button.setEnabled(done)
        self.folder_button.setEnabled(done)
        self.retry_button.setEnabled(failed)
        self.remove_button.setEnabled(done or failed)

    def _double_clicked(self, index: QModelIndex) -> None:
        view = self.model.rows[index.row()]
        if view.phase is Phase.DONE:
            self.open_result.emit(view)
