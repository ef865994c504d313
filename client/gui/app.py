"""The tray app: wires the agent, the tray icon, the jobs window, the result
viewer and the settings together.

Every piece of work (starting the agent, which may assume an AWS role;
pausing; retrying; reading a result; exporting a key) goes through
``AgentBridge.call`` so the GUI thread stays free. ``main`` is the entry
point of ``fpw client`` and of the PyInstaller bundle.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from client import report
from client.agent import Agent, watched_folders
from client.gui.app_settings import SettingsActions
from client.gui.bridge import AgentBridge
from client.gui.jobs import JobsWindow
from client.gui.tray import Tray
from client.gui.update import UpdateActions
from client.gui.viewer import ResultViewer
from client.state import Phase
from client.tracker import JobView, TrayState, counts
from client.userconfig import settings_file
from shared import __version__
from shared.config import Settings, load_settings
from shared.joins import JoinState

log = logging.getLogger(__name__)

RETRY_START_MS = 15_000


def open_with_system(path: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class TrayApp(SettingsActions, UpdateActions, QObject):
    def __init__(
        self,
        config: Path,
        overrides: Mapping[str, Any] | None = None,
        *,
        opener: Callable[[Path], None] = open_with_system,
        autostart_dir: Path | None = None,
        relaunch: Callable[[list[str]], None] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.overrides = dict(overrides or {})
        self.opener = opener
        self.autostart_dir = autostart_dir
        self.agent: Agent | None = None
        self.quitting = False
        self.relaunch = relaunch or self._relaunch_after_quit
        self.join_seen: JoinState | None = None
        """The request to join's state last shown (a decision is notified once)."""
        self.bridge = AgentBridge(self)
        self.bridge.job_changed.connect(self._on_view)
        self.bridge.failed.connect(self._warn)
        self.tray = Tray(self)
        self.jobs = JobsWindow()
        self.viewers: list[ResultViewer] = []
        self.tray.open_folder.connect(self.open_folder)
        self.tray.open_results.connect(self.open_results)
        self.tray.show_jobs.connect(self.show_jobs)
        self.tray.toggle_pause.connect(self.toggle_pause)
        self.tray.check_updates.connect(self.check_updates)
        self.tray.show_settings.connect(self.show_settings)
        self.tray.quit.connect(self.quit)
        self.jobs.open_result.connect(self.open_result)
        self.jobs.show_in_folder.connect(lambda v: self.show_in_folder(v.result_path))
        self.jobs.retry.connect(lambda file_id: self.off_the_list(file_id, Agent.retry))
        self.jobs.remove.connect(lambda file_id: self.off_the_list(file_id, Agent.remove))
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(1000)
        hours = self.settings().client.update_check_hours
        self.update_timer = QTimer(self)
        self.update_timer.timeout.connect(lambda: self.check_updates(quiet=True))
        if hours > 0:
            self.update_timer.start(max(60_000, int(hours * 3_600_000)))

    # -- start and stop -------------------------------------------------

    def settings(self) -> Settings:
        """Settings as saved (before the first save: defaults, environment and flags)."""
        path = self.config if self.config.exists() else None
        return load_settings(path, overrides=self.overrides)

    def start(self) -> None:
        """The walk-through on first run, else the agent."""
        self.tray.icon.show()
        if not self.config.exists():
            self.first_run()
        else:
            self.start_agent()

    def start_agent(self) -> None:
        if self.quitting:
            return
        self.tray.set_state(TrayState.IDLE, "starting…")
        self.bridge.call(self._make_agent, self._agent_ready, self._agent_failed)

    def _make_agent(self) -> Agent:
        settings = self.settings()
        agent = Agent(settings)
        agent.add_listener(self.bridge.job_changed.emit)
        if settings.client.html_reports:
            report.write_reports(agent)
        agent.start()
        return agent

    def _agent_ready(self, agent: Agent) -> None:
        if self.quitting:
            self.bridge.call(agent.stop)
            return
        self.agent = agent
        self.jobs.model.reset(agent.tracker.views())
        log.info("agent started; client id %s…", agent.client_id[:24])
        self.refresh()

    def _agent_failed(self, text: str) -> None:
        self.tray.set_state(TrayState.OFFLINE, f"cannot start: {text}")
        log.warning("the agent cannot start (%s); trying again shortly", text)
        QTimer.singleShot(RETRY_START_MS, self.start_agent)

    def restart_agent(self) -> None:
        """Stop the agent (off the GUI thread), then start it anew."""
        agent, self.agent = self.agent, None
        self.bridge.call(
            lambda: agent.stop() if agent else None, lambda _: self.start_agent(), self._warn
        )

    def quit(self) -> None:
        self.quitting = True
        self.timer.stop()
        self.tray.icon.hide()
        agent, self.agent = self.agent, None
        self.bridge.call(lambda: agent.stop() if agent else None, lambda _: self._quit())

    def _quit(self) -> None:
        QApplication.quit()

    # -- what the agent tells ---------------------------------------------

    def _on_view(self, view: JobView) -> None:
        self.jobs.model.update(view)
        if (view.phase is Phase.DONE and view.stage == "done") or view.phase is Phase.FAILED:
            self.tray.announce(view)

    def refresh(self) -> None:
        if self.agent is None:
            return
        state, text = self.agent.status()
        self.tray.set_state(state, text, counts(self.agent.tracker.views()))
        joiner = self.agent.joiner
        if joiner is not None and joiner.state is not self.join_seen:
            if self.join_seen is JoinState.PENDING:  # decided while we watched: say so once
                failed = joiner.state is not JoinState.APPROVED
                self.tray.notify("Joining", joiner.message(), error=failed)
            self.join_seen = joiner.state
        self.tray.set_paused(self.agent.engine.paused)
        self.jobs.status.setText(text)

    def _warn(self, text: str) -> None:
        self.tray.notify("fpw", text, error=True)

    # -- menu actions -----------------------------------------------------

    def open_folder(self) -> None:
        self.opener(watched_folders(self.settings())[0][0])

    def open_results(self) -> None:
        cs = self.settings().client
        results = (cs.results or cs.inbox / "results").expanduser()
        results.mkdir(parents=True, exist_ok=True)
        self.opener(results)

    def show_jobs(self) -> None:
        self.jobs.show()
        self.jobs.raise_()
        self.jobs.activateWindow()
        if self.agent is not None:
            self.agent.tracker.mark_seen()
            self.refresh()

    def toggle_pause(self) -> None:
        agent = self.agent
        if agent is None:
            return
        paused = not agent.engine.paused
        self.tray.set_paused(paused)
        self.bridge.call(lambda: agent.set_paused(paused), lambda _: self.refresh())

    # -- jobs window actions ----------------------------------------------

    def off_the_list(self, file_id: str, act: Callable[[Agent, str], object]) -> None:
        """``act`` on the job (off the GUI thread), then take its row off the list."""
        agent = self.agent
        if agent is not None:
            self.bridge.call(lambda: act(agent, file_id), lambda _: self.jobs.model.remove(file_id))

    def open_result(self, view: JobView) -> None:
        path = view.result_path
        if path is None:
            return
        agent = self.agent

        def read() -> tuple[bytes, report.Picture | None]:
            data = path.read_bytes()
            if path.suffix.lower() != ".json":
                return data, None
            return data, report.find_picture(report.load(data), report.originals(agent, view))

        self.bridge.call(read, lambda found: self._show_viewer(path, *found), self._warn)

    def _show_viewer(self, path: Path, data: bytes, picture: report.Picture | None) -> None:
        viewer = ResultViewer(path, data, picture=picture)
        viewer.open_file.connect(self.opener)
        viewer.show_in_folder.connect(self.show_in_folder)
        viewer.save_report.connect(self.save_report)
        viewer.finished.connect(lambda _code: self.viewers.remove(viewer))
        self.viewers.append(viewer)
        viewer.show()

    def save_report(self, target: Path, page: str) -> None:
        """Write a viewer's report beside its result (off the GUI thread), then open it."""
        tmp = target.with_name(target.name + ".part")

        def write() -> Path:
            tmp.write_text(page, encoding="utf-8")
            tmp.replace(target)
            return target

        self.bridge.call(write, self.opener, lambda text: self.show_error("Report", text))

    def show_in_folder(self, path: Path | None) -> None:
        if path is not None:
            self.opener(path.parent)


def main(
    config: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    verbose: bool = False,
) -> int:
    """Run the tray app until the user quits."""
    from shared.logs import setup

    setup(json_lines=False, verbose=verbose)
    log.info("fpw %s starting", __version__)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("fpw")
    app.setQuitOnLastWindowClosed(False)
    tray_app = TrayApp(settings_file(config), {k: v for k, v in (overrides or {}).items() if v})
    tray_app.start()
    if not QSystemTrayIcon.isSystemTrayAvailable():
        log.info("no system tray here; showing the jobs window instead")
        tray_app.show_jobs()
    code = int(app.exec())
    if tray_app.restart_into:
        # The agent has stopped (its state is saved); the new version takes over.
        argv = tray_app.restart_into
        os.execv(argv[0], argv)
    return code
