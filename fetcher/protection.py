"""ECS task scale-in protection while a job is held.

When the fleet scales in, ECS stops tasks of its choosing; a task stopping
mid-job gives the job back (``fetcher.shutdown_grace_seconds``) and its work
so far is lost. A task that holds a job asks its ECS agent to protect it
(``PUT $ECS_AGENT_URI/task-protection/v1/state``) and lifts the protection
when the job is over, so scale-in picks idle tasks. Outside ECS (no
``ECS_AGENT_URI``) there is nothing to ask. A refusal only costs the
protection: it is logged and the job goes on.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping

import requests

log = logging.getLogger(__name__)

AGENT_ENV = "ECS_AGENT_URI"
MAX_MINUTES = 2880
"""The longest protection ECS grants (48 hours)."""


class TaskProtection:
    def __init__(self, agent_uri: str, expires_seconds: float) -> None:
        self.url = agent_uri.rstrip("/") + "/task-protection/v1/state"
        # Lapses by itself should the fetcher die holding it.
        self.minutes = max(1, min(MAX_MINUTES, math.ceil(expires_seconds / 60)))

    @classmethod
    def from_env(
        cls, expires_seconds: float, environ: Mapping[str, str] | None = None
    ) -> TaskProtection | None:
        """The task's protection when run by ECS, else None."""
        uri = (os.environ if environ is None else environ).get(AGENT_ENV)
        return cls(uri, expires_seconds) if uri else None

    def set(self, protected: bool) -> bool:
        """Ask the agent; True when it agreed."""
        body: dict[str, object] = {"ProtectionEnabled": protected}
        if protected:
            body["ExpiresInMinutes"] = self.minutes
        try:
            answer = requests.put(self.url, json=body, timeout=5)
        except requests.RequestException as exc:
            problem = str(exc)
        else:
            if answer.status_code == 200 and "failure" not in _json(answer):
                return True
            problem = f"HTTP {answer.status_code} {answer.text[:200]}"
        log.warning("task protection not %s: %s", "set" if protected else "lifted", problem)
        return False


def _json(answer: requests.Response) -> dict[str, object]:
    try:
        parsed = answer.json()
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
