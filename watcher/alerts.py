"""Alerts that fire once and say when they clear.

Each condition's state (``ok`` or ``firing``) lives in an item of the jobs
table (``file = "alert#<name>"``). A change of state is a conditional write,
and only the watcher whose write succeeds sends the message, so two watchers
sweeping at once send one alert, and a condition that persists over many
sweeps sends nothing more. State is written before the message is sent: a
failed send is logged, never repeated every sweep.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from shared.config import WatcherSettings
from shared.errors import ClaimLost
from shared.record import iso
from shared.table import JobTable
from shared.transitions import Update
from watcher.snapshot import ERROR_WINDOW, Snapshot

log = logging.getLogger(__name__)

ALERT_PREFIX = "alert#"
FIRING = "firing"
OK = "ok"


@dataclass(frozen=True)
class Condition:
    name: str
    firing: bool
    detail: str


def conditions(snap: Snapshot, ws: WatcherSettings) -> list[Condition]:
    """The alert conditions as they stand (pure)."""
    window = int(ERROR_WINDOW.total_seconds() // 60)
    return [
        Condition(
            "queue-depth",
            snap.queued >= ws.alert_queue_depth,
            f"{snap.queued} jobs queued (threshold {ws.alert_queue_depth})",
        ),
        Condition(
            "queue-age",
            snap.oldest_queued_age >= ws.alert_oldest_seconds,
            f"the oldest queued job has waited {snap.oldest_queued_age:.0f} s"
            f" (threshold {ws.alert_oldest_seconds:.0f} s)",
        ),
        Condition(
            "errors",
            snap.errors_in_window >= ws.alert_errors,
            f"{snap.errors_in_window} jobs ended in ERROR in the last {window} minutes"
            f" (threshold {ws.alert_errors})",
        ),
    ]


def change(name: str, to: str, now: str) -> Update:
    """Move an alert to ``to`` unless it is there already (a first sighting counts as ok)."""
    was_other = (
        "attribute_not_exists(#state) OR #state = :ok" if to == FIRING else "#state = :firing"
    )
    return Update(
        "SET #state = :to, #since = :now",
        was_other,
        {":to": to, ":now": now, **({":ok": OK} if to == FIRING else {":firing": FIRING})},
    )


class Alerter:
    def __init__(
        self, table: JobTable, ws: WatcherSettings, sns: Any | None, session: Any | None = None
    ) -> None:
        self.table = table
        self.ws = ws
        self.sns = sns
        self.http = session or requests.Session()

    def evaluate(self, snap: Snapshot) -> list[str]:
        """Apply every condition; returns the messages this watcher sent."""
        sent = []
        for condition in conditions(snap, self.ws):
            to = FIRING if condition.firing else OK
            try:
                self.table.apply_raw(
                    ALERT_PREFIX + condition.name, change(condition.name, to, iso(snap.now))
                )
            except ClaimLost:
                # Already in that state (or never fired, for "ok"), or another
                # watcher moved it first and sends the message.
                continue
            sent.append(self._send(condition, to, snap))
        return sent

    def _send(self, condition: Condition, to: str, snap: Snapshot) -> str:
        word = "ALERT" if to == FIRING else "CLEARED"
        subject = f"fpw {self.ws.deployment}: {word} {condition.name}"
        body = {
            "deployment": self.ws.deployment,
            "alert": condition.name,
            "state": to,
            "detail": condition.detail,
            "at": iso(snap.now),
            "queued": snap.queued,
            "in_flight": snap.in_flight,
        }
        message = f"{subject}: {condition.detail}"
        (log.error if to == FIRING else log.info)("%s", message)
        if self.sns is not None and self.ws.alert_topic_arn:
            try:
                self.sns.publish(
                    TopicArn=self.ws.alert_topic_arn,
                    Subject=subject[:100],
                    Message=json.dumps(body, indent=2),
                )
            except (BotoCoreError, ClientError) as exc:
                log.warning("could not publish the alert to SNS: %s", exc)
        if self.ws.webhook_url:
            try:
                self.http.post(self.ws.webhook_url, json={"text": message, **body}, timeout=5)
            except requests.RequestException as exc:
                log.warning("could not post the alert to the webhook: %s", exc)
        return message
