"""Calling the analysis container over its HTTP contract (processor/openapi.yaml).

A 4xx is permanent (the job ends as ERROR with the container's message);
a 5xx, a timeout or a dropped connection is retryable.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from shared.errors import PermanentError, TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    content_type: str
    body: bytes


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])
    except ValueError:
        pass
    return response.text[:500] or response.reason


def analyze(
    base_url: str,
    path: Path,
    *,
    job: str,
    content_type: str,
    params: dict[str, Any],
    timeout: float,
    session: requests.Session | None = None,
    shared: bool = False,
) -> Answer:
    """Send the file, or with ``shared`` only its name on the volume both containers mount."""
    http = session or requests.Session()
    headers = {
        "Content-Type": content_type,
        "X-Fpw-Job": job,
        "X-Fpw-Params": json.dumps(params, separators=(",", ":")),
    }
    if shared:
        headers["X-Fpw-Path"] = path.name
    try:
        with path.open("rb") as body:
            response = http.post(
                f"{base_url.rstrip('/')}/analyze",
                data=b"" if shared else body,
                headers=headers,
                timeout=(10, timeout),
            )
    except requests.Timeout as exc:
        raise TransientError(
            f"the processor did not answer within {timeout:.0f} s", job=job
        ) from exc
    except requests.ConnectionError as exc:
        raise TransientError(f"cannot reach the processor at {base_url}: {exc}", job=job) from exc
    if 200 <= response.status_code < 300:
        return Answer(
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            body=response.content,
        )
    message = _message(response)
    if 400 <= response.status_code < 500:
        raise PermanentError(f"the processor rejected the file: {message}", job=job)
    raise TransientError(f"the processor failed ({response.status_code}): {message}", job=job)


def progress(base_url: str, job: str, session: requests.Session | None = None) -> int | None:
    """The processor's progress on ``job`` (0..100), or None when it does not report one."""
    http = session or requests.Session()
    try:
        response = http.get(f"{base_url.rstrip('/')}/progress/{job}", timeout=5)
        if response.status_code != 200:
            return None
        value = response.json().get("progress")
    except (requests.RequestException, ValueError, AttributeError):
        return None
    if isinstance(value, int | float) and 0 <= value <= 100:
        return int(value)
    return None
