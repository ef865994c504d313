"""Asking to join: the desktop files a request and waits for an administrator.

With ``client.join`` on, a desktop whose key is not known to be approved files
a join request (its client id, computer name and user) with the site's own
IAM key, not the client role, and sends nothing until the request is
approved. It then re-reads the request every few seconds: approved, it
remembers so (``joined`` in the state folder; the request itself expires from
the table) and sending starts; rejected or expired, it says so in the tray
and the log and stops asking. A restart files anew only after an expiry: a
rejection stands.
"""

from __future__ import annotations

import getpass
import logging
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shared.joins import JoinRequest, JoinState, JoinTable, state_at
from shared.record import iso, utc_now

if TYPE_CHECKING:
    from shared.config import Settings

log = logging.getLogger(__name__)

JOINED_FILE = "joined"
"""In the state folder: the client id whose request was approved."""

POLL_SECONDS = (1.0, 30.0)
"""How often a pending request is re-read: four times ``client.poll_seconds``, within these."""


def joined_already(state_dir: Path, client: str) -> bool:
    try:
        return (state_dir / JOINED_FILE).read_text(encoding="utf-8").strip() == client
    except OSError:
        return False


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "?"


class Joiner:
    """One desktop's request to join, from filing to the administrator's decision."""

    def __init__(
        self,
        settings: Settings,
        client: str,
        *,
        on_change: Callable[[JoinState], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self.on_change = on_change
        self.clock = clock
        self.state_dir = settings.client.state_dir.expanduser()
        self.state = (
            JoinState.APPROVED if joined_already(self.state_dir, client) else JoinState.PENDING
        )
        self.reason = ""
        self.request_id = ""
        self.trouble = ""
        """The last failure to reach the joins table (shown while pending)."""
        self._stop = threading.Event()

    @property
    def waiting(self) -> bool:
        return self.state is JoinState.PENDING

    def message(self) -> str:
        """What the tray and the log say about the request."""
        if self.state is JoinState.PENDING:
            text = f"waiting for approval (request {self.request_id or '…'})"
            return f"{text}; {self.trouble}" if self.trouble else text
        if self.state is JoinState.REJECTED:
            why = f": {self.reason}" if self.reason else ""
            return (
                f"the request to join was rejected by the administrator{why}; "
                "nothing is sent. Ask your administrator to register this computer"
            )
        if self.state is JoinState.EXPIRED:
            return (
                "the request to join expired before an administrator approved it; "
                "nothing is sent. Restart fpw to ask again"
            )
        return "joined: this computer is approved"

    def run(self) -> None:
        """File or find the request, then wait for the decision (until stopped)."""
        if not self.waiting:
            return
        from shared.aws import BOTO_CONFIG, base_session

        aws = self.settings.aws
        connect = partial(
            base_session(aws).client, endpoint_url=aws.endpoint_url, config=BOTO_CONFIG
        )
        pause = min(max(4 * self.settings.client.poll_seconds, POLL_SECONDS[0]), POLL_SECONDS[1])
        table: JoinTable | None = None
        site = ""
        while not self._stop.is_set():
            try:
                if table is None:
                    site = connect("sts").get_caller_identity()["UserId"]
                    table = JoinTable(connect("dynamodb"), aws.joins_table)
                    self._file_unless_filed(table, site)
                    log.info("%s", self.message())
                found = table.get(site, self.client)
                self.trouble = ""
                if found is None:
                    # Removed by the table's expiry (which runs late, never early).
                    self._decided(JoinState.EXPIRED, "")
                else:
                    self._decided(state_at(found, self.clock()), found.reason)
            except (BotoCoreError, ClientError) as exc:
                self.trouble = f"cannot reach the joins table ({type(exc).__name__})"
                log.warning("join request: %s; will retry", exc)
            except Exception:
                # This thread alone can end the wait: it must outlive any one failure.
                self.trouble = "the request could not be checked; retrying"
                log.exception("join request: check failed; will retry")
            if not self.waiting:
                return
            self._stop.wait(pause)

    def _file_unless_filed(self, table: JoinTable, site: str) -> None:
        """File a request, unless one for this key is still pending or was rejected."""
        found = table.get(site, self.client)
        if found is not None and state_at(found, self.clock()) is not JoinState.EXPIRED:
            self.request_id = found.id
            return
        hours = self.settings.client.join_expiry_hours
        request = JoinRequest(
            site=site,
            client=self.client,
            computer=socket.gethostname(),
            user=_user(),
            requested=iso(utc_now()),
            expires=int(self.clock() + hours * 3600),
        )
        table.file(request)
        self.request_id = request.id
        log.info("filed join request %s for %s", request.id, self.client[:24] + "…")

    def _decided(self, state: JoinState, reason: str) -> None:
        if state is JoinState.PENDING:
            return
        self.state, self.reason = state, reason
        if state is JoinState.APPROVED:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            (self.state_dir / JOINED_FILE).write_text(self.client + "\n", encoding="utf-8")
            log.info("join request %s approved; sending starts", self.request_id)
        else:
            log.error("%s", self.message())
        if self.on_change is not None:
            self.on_change(state)

    def stop(self) -> None:
        self._stop.set()
