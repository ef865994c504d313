"""Calling the analysis container over its HTTP contract (processor/openapi.yaml).

A 4xx is permanent (the job ends as ERROR with the container's message);
a 5xx, a timeout or a dropped connection is retryable; a 503 means the
container is over capacity (``Busy``: wait and ask again, the job is not at
fault).

The container is not trusted to behave: a call has a total deadline, enforced
by closing the socket (a reply trickling a byte at a time cannot hold a job);
the answer is read in blocks up to a byte cap; redirects are never followed
(the plaintext goes to the configured URL and nowhere else); every message
taken from an answer is bounded and cleaned before it is logged or stored.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from shared.errors import PermanentError, TransientError
from shared.reasons import clean_reason

log = logging.getLogger(__name__)

BLOCK = 64 * 1024
ERROR_BODY_BYTES = 1024 * 1024
"""Most bytes of an error answer read for its message (only its start is kept)."""
PROGRESS_BODY_BYTES = 4096
PROGRESS_SECONDS = 5.0
CONNECT_SECONDS = 10.0
SEND_BLOCK = 1 << 20
"""Bytes per write of the file into the container: http.client's 8 KiB default
costs a Python call per 8 KiB, 0.1 to 0.3 s of a slot for a 100 MiB file on a
loaded two-core machine, against 0.04 s with 1 MiB writes."""
DEFAULT_RETRY_AFTER = 5.0
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Answer:
    content_type: str
    body: bytes


class Busy(TransientError):
    """The container answered 503: over capacity, ask again after ``retry_after`` s."""

    def __init__(self, message: str, *, job: str | None, retry_after: float) -> None:
        super().__init__(message, job=job)
        self.retry_after = retry_after


class Overdue(TransientError):
    """The call ran past its deadline and was cut off."""


class _Watchdog:
    """Shuts the connection's socket down at the deadline: any blocked send or
    receive returns at once, however slowly the peer trickles."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self.conn = conn
        self.fired = threading.Event()
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired.set()
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _connection(base_url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection to the container and the path prefix of its base URL."""
    url = urllib.parse.urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise PermanentError(f"the processor URL {base_url!r} is not an http(s) URL")
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    return cls(url.hostname, url.port, timeout=timeout, blocksize=SEND_BLOCK), url.path.rstrip("/")


@contextlib.contextmanager
def _call(
    base_url: str,
    method: str,
    route: str,
    *,
    seconds: float,
    body: BinaryIO | bytes = b"",
    headers: dict[str, str] | None = None,
) -> Iterator[tuple[http.client.HTTPResponse, _Watchdog]]:
    """One request under a total deadline of ``seconds``; the connection is closed after."""
    conn, prefix = _connection(base_url, min(seconds, CONNECT_SECONDS))
    try:
        with _Watchdog(conn, seconds) as dog:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(seconds)  # per operation; the watchdog bounds the total
            conn.request(method, prefix + route, body=body, headers=headers or {})
            yield conn.getresponse(), dog
    finally:
        conn.close()


def _read(response: http.client.HTTPResponse, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether there was more.

    A body that ends before its Content-Length (the connection dropped, or cut
    at the deadline) raises ``IncompleteRead``: a part of an answer is no answer.
    """
    data = bytearray()
    while len(data) <= cap:
        block = response.read(min(BLOCK, cap + 1 - len(data)))
        if not block:
            if response.length:  # bytes still owed
                raise http.client.IncompleteRead(bytes(data[-16:]), response.length)
            return bytes(data), False
        data += block
    return bytes(data[:cap]), True


def _message(response: http.client.HTTPResponse) -> str:
    """The container's error message: its JSON ``error``, else the start of the body."""
    data, _ = _read(response, ERROR_BODY_BYTES)
    with contextlib.suppress(ValueError, RecursionError):
        parsed = json.loads(data)
        if isinstance(parsed, dict) and "error" in parsed:
            return clean_reason(parsed["error"])
    return clean_reason(data.decode("utf-8", errors="replace") or response.reason)


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 1.0), MAX_RETRY_AFTER) if seconds == seconds else DEFAULT_RETRY_AFTER


def analyze(
    base_url: str,
    path: Path,
    *,
    job: str,
    content_type: str,
    params: dict[str, Any],
    timeout: float,
    max_bytes: int,
    shared: bool = False,
) -> Answer:
    """Send the file, or with ``shared`` only its name on the volume both containers mount.

    ``timeout`` bounds the whole call (upload, analysis, answer); ``max_bytes``
    the answer's body.
    """
    size = 0 if shared else path.stat().st_size
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(size),  # always, 0 included (never chunked)
        "X-Fpw-Job": job,
        "X-Fpw-Params": json.dumps(params, separators=(",", ":")),
    }
    if shared:
        headers["X-Fpw-Path"] = path.name
    started = time.monotonic()
    try:
        with (
            path.open("rb") if size else contextlib.nullcontext(b"") as body,
            _call(base_url, "POST", "/analyze", seconds=timeout, body=body, headers=headers) as (
                response,
                dog,
            ),
        ):
            try:
                answer = _answer(response, job=job, max_bytes=max_bytes)
            except (OSError, http.client.HTTPException, PermanentError, TransientError) as exc:
                if dog.fired.is_set():
                    raise _overdue(timeout, job) from exc
                raise
            if dog.fired.is_set():  # an answer cut short at the deadline is no answer
                raise _overdue(timeout, job)
            return answer
    except (TransientError, PermanentError):
        raise
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() - started >= timeout:
            raise _overdue(timeout, job) from exc
        raise TransientError(
            f"cannot reach the processor at {base_url}: {clean_reason(exc)}", job=job
        ) from exc


def _overdue(timeout: float, job: str) -> Overdue:
    return Overdue(f"the processor did not finish within {timeout:.0f} s", job=job)


def _answer(response: http.client.HTTPResponse, *, job: str, max_bytes: int) -> Answer:
    status = response.status
    if 200 <= status < 300:
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(max_bytes, job)
        body, more = _read(response, max_bytes)
        if more:
            raise _too_large(max_bytes, job)
        return Answer(
            content_type=clean_reason(
                response.getheader("Content-Type") or "application/octet-stream", 255
            ),
            body=body,
        )
    if 300 <= status < 400:
        where = clean_reason(response.getheader("Location") or "nowhere", 200)
        raise PermanentError(
            f"the processor answered {status} (a redirect to {where}); redirects are not"
            " followed: set fetcher.processor_url to the container's own address",
            job=job,
        )
    message = _message(response)
    if status == 503:
        retry = _retry_after(response.getheader("Retry-After"))
        raise Busy(f"the processor is busy (503): {message}", job=job, retry_after=retry)
    if 400 <= status < 500:
        raise PermanentError(f"the processor rejected the file: {message}", job=job)
    raise TransientError(f"the processor failed ({status}): {message}", job=job)


def _too_large(max_bytes: int, job: str) -> PermanentError:
    return PermanentError(
        f"the processor's answer is larger than fetcher.processor_max_answer_bytes"
        f" ({max_bytes} bytes); nothing was kept",
        job=job,
    )


_UNANSWERED = (
    OSError,
    http.client.HTTPException,
    ValueError,
    RecursionError,
    AttributeError,
    PermanentError,
)
"""What makes a small GET's answer no answer (unreachable, malformed, not an object)."""


def _get(base_url: str, route: str, cap: int) -> tuple[bytes, bool] | None:
    """The body of a 200 answer to ``GET route`` (at most ``cap`` bytes, and whether there
    was more); None for any other status."""
    with _call(base_url, "GET", route, seconds=PROGRESS_SECONDS) as (answer, _):
        return _read(answer, cap) if answer.status == 200 else None


def progress(base_url: str, job: str) -> int | None:
    """The processor's progress on ``job`` (0..100), or None when it does not report one."""
    try:
        got = _get(base_url, f"/progress/{job}", PROGRESS_BODY_BYTES)
        value = json.loads(got[0]).get("progress") if got and not got[1] else None
    except _UNANSWERED:
        return None
    if isinstance(value, int | float) and 0 <= value <= 100:
        return int(value)
    return None


MAX_CAPACITY = 64
"""The most analyses a fetcher keeps in flight, whatever a container declares."""


def capacity(base_url: str) -> int | None:
    """How many analyses the container takes at once (``capacity`` in ``GET /health``):
    1 when it declares none, None when it cannot be asked now."""
    try:
        got = _get(base_url, "/health", PROGRESS_BODY_BYTES)
        if got is None:
            return None
        value = 1 if got[1] else json.loads(got[0]).get("capacity", 1)
    except _UNANSWERED:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return 1
    return min(value, MAX_CAPACITY)


def profiles(base_url: str) -> bytes | None:
    """The body of the processor's ``GET /profiles`` (bounded), or None when it lists none.

    A container that does not list its profiles (any answer but 200) leaves
    desktops with JSON params; it is never a reason not to process. One that
    does not answer at all raises ``TransientError``: ask again later.
    """
    from shared.profiles import MAX_BYTES

    try:
        got = _get(base_url, "/profiles", MAX_BYTES)
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError(f"the processor did not answer GET /profiles: {exc}") from exc
    return got[0] if got and not got[1] else None
