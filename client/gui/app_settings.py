"""The tray app's settings window, key export and import, and first-run
walk-through: what the app does with them (the widgets are in
``client.gui.settings``); every slow step runs off the GUI thread.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QMessageBox

from client import autostart
from client.gui.params import ParamsEditor
from client.gui.settings import FirstRunWizard, SettingsDialog
from client.keystore import KeyStore
from client.userconfig import Preferences, write
from shared import profiles

if TYPE_CHECKING:
    from client.agent import Agent
    from client.gui.bridge import AgentBridge
    from client.gui.tray import Tray
    from shared.config import Settings

log = logging.getLogger("client.gui.app")


class SettingsActions:
    """Mixed into ``TrayApp``."""

    dialog: SettingsDialog | None = None
    wizard: FirstRunWizard | None = None
    last_error = ""
    """The text of the last error shown in a message box."""

    if TYPE_CHECKING:
        # Provided by the app (``client.gui.app.TrayApp``).
        config: Path
        overrides: dict[str, Any]
        autostart_dir: Path | None
        agent: Agent | None
        bridge: AgentBridge
        tray: Tray
        _error_box: QMessageBox

        def settings(self) -> Settings: ...
        def start_agent(self) -> None: ...
        def restart_agent(self) -> None: ...
        def quit(self) -> None: ...

    def keystore(self) -> KeyStore:
        return KeyStore(self.settings().client.state_dir)

    def show_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(
            Preferences.from_settings(self.settings()),
            autostart.enabled(self.autostart_dir),
            self.export_key,
            self.import_key,
        )
        agent = self.agent
        if agent is not None:
            # Asking the keyring where the key is may wait on a system service.
            store = self.keystore()
            self.bridge.call(
                lambda: store.where, lambda where: dialog.keys.show_key(agent.client_id, where)
            )
            self.load_profiles(agent, dialog.form.params)
        dialog.accepted.connect(lambda: self.save_settings(dialog.result_prefs, dialog))
        self.dialog = dialog
        dialog.open()
        return dialog

    def load_profiles(self, agent: Agent, editor: ParamsEditor) -> None:
        """Read the profiles the fleet publishes (off the GUI thread) into the params editor."""
        bucket = agent.settings.aws.bucket

        def failed(text: str) -> None:
            editor.set_catalog(
                None, f"The fleet's profiles cannot be read ({text}): params are JSON."
            )

        self.bridge.call(
            lambda: profiles.read(agent.engine.aws.s3, bucket), editor.set_catalog, failed
        )

    def save_settings(self, prefs: Preferences | None, form_owner: Any) -> None:
        if prefs is None:
            return
        write(self.config, prefs.updates())
        if autostart.supported():
            if form_owner.form.autostart.isChecked():
                autostart.enable(autostart.command(self.config), self.autostart_dir)
            else:
                autostart.disable(self.autostart_dir)
        log.info("settings saved to %s", self.config)
        self.restart_agent()

    def export_key(self, target: Path, passphrase: str) -> None:
        store = self.keystore()
        self.bridge.call(
            lambda: store.export(target, passphrase),
            lambda _: self.tray.notify("Key exported", str(target)),
            lambda text: self.show_error("Export key", text),
        )

    def import_key(self, source: Path, passphrase: str) -> None:
        store = self.keystore()

        def done(_: object) -> None:
            self.tray.notify("Key imported", "this computer now uses the imported key")
            self.restart_agent()

        self.bridge.call(
            lambda: store.import_key(source, passphrase),
            done,
            lambda text: self.show_error("Import key", text),
        )

    def show_error(self, title: str, text: str) -> None:
        """A message box that does not block (the agent's signals keep flowing)."""
        self.last_error = text
        box = QMessageBox(QMessageBox.Icon.Warning, f"fpw: {title}", text)
        box.setModal(False)
        box.open()
        self._error_box = box

    def first_run(self) -> FirstRunWizard:
        prefs = Preferences.from_settings(self.settings())
        if not self.overrides:
            prefs.folders = [(str(Path.home() / "fpw-inbox"), {})]

        def create_key() -> tuple[str, str]:
            # The settings chosen so far decide where the key lives.
            from shared.signing import client_id

            store = self.keystore()
            return client_id(store.load_or_create().public_key()), store.where

        wizard = FirstRunWizard(prefs, create_key, self.import_key)
        wizard.accepted.connect(lambda: self._first_run_done(wizard))
        wizard.rejected.connect(self.quit)
        self.wizard = wizard
        wizard.open()
        return wizard

    def _first_run_done(self, wizard: FirstRunWizard) -> None:
        prefs = wizard.result_prefs or wizard.form.preferences()
        write(self.config, prefs.updates())
        if autostart.supported() and wizard.form.autostart.isChecked():
            autostart.enable(autostart.command(self.config), self.autostart_dir)
        self.start_agent()
