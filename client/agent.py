"""The running desktop agent: one engine, its folder watchers and its threads.

``fpw client --headless`` and the tray app both run an ``Agent``; the tray
is only a view of it. Everything here runs in the agent's own threads: the
engine's workers upload and collect, one thread per watched folder decides
when a file is complete, and one thread drives result polling. Faces learn
what happens through ``add_listener`` (called from those threads, with a
``JobView`` of the job that changed); a Qt face turns that into signals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.engine import Engine
from client.events import Event
from client.joining import Joiner
from client.keystore import load_client_key
from client.places import Places
from client.state import Phase
from client.tracker import JobView, Tracker, TrayState, summary
from client.watch import InboxWatcher
from shared.config import Settings
from shared.joins import JoinState

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from shared.aws import Aws

log = logging.getLogger(__name__)

ViewListener = Callable[[JobView], None]


def watched_folders(settings: Settings) -> list[tuple[Path, dict[str, Any]]]:
    """The inbox with ``client.params``, then each of ``client.folders`` with its own."""
    cs = settings.client
    folders = [(cs.inbox.expanduser().resolve(), dict(cs.params))]
    for folder, params in cs.folders.items():
        path = Path(folder).expanduser().resolve()
        if all(path != known for known, _ in folders):
            folders.append((path, dict(params or {})))
    return folders


class Agent:
    def __init__(
        self,
        settings: Settings,
        aws: Aws | None = None,
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from shared.aws import Aws

        self.settings = settings
        self.clock = clock
        self.folders = watched_folders(settings)
        self.engine = Engine(
            settings,
            aws or Aws(settings.aws, "fpw-client"),
            clock=clock,
            key=key or load_client_key(settings.client.state_dir.expanduser()),
            places=Places.of(settings, [folder for folder, _ in self.folders]),
        )
        self.tracker = Tracker()
        self.tracker.load(self.engine.state.visible())
        self._listeners: list[ViewListener] = []
        self._watchers: list[InboxWatcher] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.engine.add_listener(self._on_event)
        self.joiner: Joiner | None = None
        """With ``client.join``: the request to join, which holds sending until approved."""
        self._user_paused = False
        if settings.client.join:
            self.joiner = Joiner(settings, self.engine.client_id, on_change=self._join_decided)

    @property
    def client_id(self) -> str:
        return self.engine.client_id

    def add_listener(self, listener: ViewListener) -> None:
        self._listeners.append(listener)

    def _on_event(self, event: Event) -> None:
        drop = None
        known = self.tracker.get(event.file_id)
        if known is None or known.size is None:
            drop = self.engine.state.get(event.file_id)
        view = self.tracker.apply(event, self.clock(), drop)
        for listener in list(self._listeners):
            try:
                listener(view)
            except Exception:
                log.exception("listener failed")

    # -- running --------------------------------------------------------

    def start(self, watch: bool = True) -> None:
        """Start watching (unless ``watch`` is false) and driving the engine."""
        if self.joiner is not None and self.joiner.waiting:
            self.engine.set_paused(True)  # drops wait until the request is approved
            self._spawn(self.joiner.run, "fpw-join")
        if watch:
            cs = self.settings.client
            for folder, params in self.folders:
                watcher = InboxWatcher(
                    folder,
                    partial(self.engine.submit, params=params, source="watch"),
                    cs.stable_seconds,
                    excluded=self.engine.places.own(folder),
                    moved_settle_seconds=cs.moved_settle_seconds,
                )
                watcher.start()
                self._watchers.append(watcher)
                self._spawn(watcher.loop, f"fpw-watch-{folder.name}")
                log.info("watching %s", folder)
        self._spawn(lambda: self.engine.run(until=self._stop.is_set), "fpw-engine")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _join_decided(self, state: JoinState) -> None:
        if state is JoinState.APPROVED:
            self.engine.set_paused(self._user_paused)

    @property
    def held(self) -> bool:
        """Sending is held by a request to join that is not approved."""
        return self.joiner is not None and self.joiner.state is not JoinState.APPROVED

    def stop(self) -> None:
        self._stop.set()
        if self.joiner is not None:
            self.joiner.stop()
        for watcher in self._watchers:
            watcher.stop()
        self.engine.stop()
        for thread in self._threads:
            thread.join(timeout=10)

    # -- what the faces ask for -----------------------------------------

    def status(self) -> tuple[TrayState, str]:
        if self.joiner is not None and self.held:
            waiting = self.joiner.waiting
            return (TrayState.PAUSED if waiting else TrayState.ERROR), self.joiner.message()
        return summary(self.tracker.views(), self.engine.paused, self.engine.errors.offline)

    def set_paused(self, paused: bool) -> None:
        self._user_paused = paused
        if not self.held:
            self.engine.set_paused(paused)

    def retry(self, file_id: str) -> str | None:
        new_id = self.engine.retry(file_id)
        self.tracker.remove(file_id)
        return new_id

    def remove(self, file_id: str) -> None:
        """Take a finished job off the list (its files stay where they are)."""
        view = self.tracker.get(file_id)
        if view is not None and view.phase not in (Phase.DONE, Phase.FAILED):
            raise ValueError("only a finished job can be removed from the list")
        self.engine.state.hide(file_id)
        self.tracker.remove(file_id)

    def submit(self, path: Path, params: dict[str, Any] | None = None) -> str | None:
        return self.engine.submit(path, params, source="api")
