"""The tray icon: its picture and tooltip say the agent's state; its menu
holds every action the app has; its notifications say when results arrive
and files fail, one notification for a batch of files rather than one each.

Icons are drawn at run time (a coloured disc with a sign), so the bundle
carries no image files and each state is obvious at a glance.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from client.state import Phase
from client.tracker import JobView, TrayState, notice

LOOK: dict[TrayState, tuple[str, str]] = {
    TrayState.IDLE: ("#2e7d32", "✓"),
    TrayState.UPLOADING: ("#1565c0", "↑"),
    TrayState.WAITING: ("#6a1b9a", "…"),
    TrayState.ERROR: ("#c62828", "!"),
    TrayState.PAUSED: ("#757575", "⏸"),
    TrayState.OFFLINE: ("#ef6c00", "×"),
}


QUIET_MS = 1500
"""A result or failure waits this long for others before it is announced..."""
HOLD_MS = 8000
"""...but never longer than this, however many keep coming."""


def state_icon(state: TrayState, size: int = 64) -> QIcon:
    colour, sign = LOOK[state]
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(colour))
    painter.setPen(Qt.PenStyle.NoPen)
    margin = size * 0.06
    painter.drawEllipse(QRectF(margin, margin, size - 2 * margin, size - 2 * margin))
    painter.setPen(QColor("white"))
    font = QFont()
    font.setPixelSize(int(size * 0.55))
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(QRectF(QPointF(0, 0), QPointF(size, size)), Qt.AlignmentFlag.AlignCenter, sign)
    painter.end()
    return QIcon(pixmap)


class Tray(QObject):
    """Icon, tooltip, menu and notifications; the app connects the signals."""

    open_folder = Signal()
    open_results = Signal()
    show_jobs = Signal()
    toggle_pause = Signal()
    check_updates = Signal()
    show_settings = Signal()
    quit = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = TrayState.IDLE
        self.tooltip = ""
        self.messages: list[tuple[str, str]] = []
        """Notifications shown, newest last (the last few; tests and the log read them)."""
        self.icon = QSystemTrayIcon(state_icon(TrayState.IDLE), self)
        self.menu = QMenu()
        self.menu.setToolTipsVisible(True)
        self.status_action = self.menu.addAction("fpw: starting…")
        self.status_action.setEnabled(False)
        self.menu.addSeparator()
        self.open_folder_action = self._add("Open watched folder", self.open_folder)
        self.open_results_action = self._add("Open results", self.open_results)
        self.jobs_action = self._add("Show jobs…", self.show_jobs)
        self.menu.addSeparator()
        self.pause_action = self._add("Pause sending", self.toggle_pause)
        self.updates_action = self._add("Check for updates…", self.check_updates)
        self.settings_action = self._add("Settings…", self.show_settings)
        self.menu.addSeparator()
        self.quit_action = self._add("Quit", self.quit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        # A notification says what finished; clicking it shows which.
        self.icon.messageClicked.connect(self.show_jobs.emit)
        self.ready: list[str] = []
        self.failed: list[tuple[str, str]] = []
        """Results and failures not announced yet (``announce`` gathers them)."""
        self._quiet = QTimer(self, singleShot=True, interval=QUIET_MS)
        self._quiet.timeout.connect(self.flush)
        self._hold = QTimer(self, singleShot=True, interval=HOLD_MS)
        self._hold.timeout.connect(self.flush)
        self.set_state(TrayState.IDLE, "starting…")

    def _add(self, text: str, signal: SignalInstance) -> QAction:
        action = self.menu.addAction(text)
        action.triggered.connect(signal.emit)
        return action

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        reasons = QSystemTrayIcon.ActivationReason
        if reason in (reasons.Trigger, reasons.DoubleClick):
            self.show_jobs.emit()

    def set_state(self, state: TrayState, text: str, counts: str = "") -> None:
        """The icon and tooltip: the state in words, then ``counts`` (sending, waiting, failed)."""
        if state is not self.state:
            self.icon.setIcon(state_icon(state))
            self.state = state
        first = f"fpw: {text}"
        self.tooltip = f"{first}\n{counts}" if counts else first
        self.icon.setToolTip(self.tooltip)
        # The menu's first line stays short; the tooltip has the whole text.
        short = first if len(first) <= 48 else first[:47] + "…"
        self.status_action.setText(short)

    def set_paused(self, paused: bool) -> None:
        self.pause_action.setText("Resume sending" if paused else "Pause sending")

    def notify(self, title: str, text: str, error: bool = False) -> None:
        icons = QSystemTrayIcon.MessageIcon
        kind = icons.Critical if error else icons.Information
        self.messages = [*self.messages[-19:], (title, text)]
        self.icon.showMessage(title, text, kind, 8000)

    def announce(self, view: JobView) -> None:
        """Note a result or a failure; files finishing together get one notification."""
        if view.phase is Phase.DONE:
            self.ready.append(view.name)
        elif view.phase is Phase.FAILED:
            self.failed.append((view.name, view.error or ""))
        else:
            return
        self._quiet.start()
        if not self._hold.isActive():
            self._hold.start()

    def flush(self) -> None:
        """Show what was gathered as one notification."""
        self._quiet.stop()
        self._hold.stop()
        if not self.ready and not self.failed:
            return
        title, text, error = notice(self.ready, self.failed)
        self.ready, self.failed = [], []
        self.notify(title, text, error=error)
