"""A counting proxy on loopback between the parts and the local stack.

Every AWS request a part makes passes through it unchanged (signatures stay
valid: the Host header and body are forwarded as received), and is counted
by service and operation: DynamoDB and Streams from the ``X-Amz-Target``
header, S3 from the method, key and query, query-protocol services (STS,
CloudWatch, SNS) from the ``Action`` field. The product code is not touched;
a part is pointed at the proxy by its endpoint setting.

Some UpdateItem calls are told apart by what they do, because their cost
and meaning differ: claims (the claim condition), heartbeats, and writes of
the coordination items (stream leases, presence, alert states). A claim
whose condition fails is a claim conflict.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.presence import PRESENCE_PREFIX
from shared.transitions import IS_QUEUED_AND_FREE

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
}
# Coordination items share the jobs table; their key says what they are.
ITEM_KINDS = {"lease#": "stream lease", PRESENCE_PREFIX: "presence", "alert#": "alert state"}


@dataclass(frozen=True)
class Call:
    part: str
    service: str
    operation: str
    ok: bool
    sent: int
    """Request body bytes."""
    received: int
    """Response body bytes."""
    at: float
    path: str = ""
    """The request's path (S3: bucket and key)."""
    bodies: tuple[bytes, bytes] | None = None
    """DynamoDB's request and response JSON, kept to work out capacity units."""


def s3_operation(method: str, path: str, query: str) -> str:
    """The S3 API operation of a path-style request (pure)."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    if "uploads" in params:
        return "CreateMultipartUpload"
    if "uploadId" in params:
        return {
            "PUT": "UploadPart",
            "POST": "CompleteMultipartUpload",
            "DELETE": "AbortMultipartUpload",
        }.get(method, "ListParts")
    if "delete" in params and method == "POST":
        return "DeleteObjects"
    if not has_key:
        if method == "GET":
            return "ListObjectsV2" if params.get("list-type") == ["2"] else "ListObjects"
        return f"{method} bucket"
    return {
        "PUT": "PutObject",
        "GET": "GetObject",
        "HEAD": "HeadObject",
        "DELETE": "DeleteObject",
        "POST": "PostObject",
    }.get(method, method)


def target_operation(target: str, body: bytes) -> str:
    """The operation an ``X-Amz-Target`` names; UpdateItem refined by what it is for (pure)."""
    operation = target.rsplit(".", 1)[-1]
    if operation != "UpdateItem":
        return operation
    try:
        request: dict[str, Any] = json.loads(body)
    except ValueError:
        return operation
    key = str(request.get("Key", {}).get("file", {}).get("S", ""))
    for prefix, what in ITEM_KINDS.items():
        if key.startswith(prefix):
            return f"UpdateItem ({what})"
    if request.get("ConditionExpression") == IS_QUEUED_AND_FREE:
        return "UpdateItem (claim)"
    if str(request.get("UpdateExpression", "")).startswith("SET #heartbeat"):
        return "UpdateItem (heartbeat)"
    return operation


def service_of(authorization: str) -> str:
    """The service named in a SigV4 credential scope (``AKID/date/region/service/...``)."""
    marker = "Credential="
    at = authorization.find(marker)
    if at < 0:
        return "unsigned"
    scope = authorization[at + len(marker) :].split(",", 1)[0].split("/")
    return scope[3] if len(scope) > 3 else "unknown"


class Counts:
    """Calls seen, thread-safe; queried by part, service and operation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def mark(self) -> int:
        """A position to count from (``since``)."""
        with self._lock:
            return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        with self._lock:
            return self.calls[mark:]


def tally(calls: list[Call]) -> Counter[tuple[str, str, str]]:
    """(part, service, operation) -> number of calls."""
    return Counter((c.part, c.service, c.operation) for c in calls)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle's algorithm on, the
    # body would wait for the peer's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _upstream(self) -> http.client.HTTPConnection:
        local = self.server.local
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=120)
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            local.conn = conn
        return conn

    def _forward(self) -> None:
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            conn = self._upstream()
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self.server.local.conn = None
                if attempt == 2:
                    raise
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self._count(body, response.status, payload)

    def _count(self, body: bytes, status: int, payload: bytes) -> None:
        service = service_of(self.headers.get("Authorization", ""))
        target = self.headers.get("X-Amz-Target")
        url = urllib.parse.urlsplit(self.path)
        if target:
            operation = target_operation(target, body)
        elif service == "s3":
            operation = s3_operation(self.command, url.path, url.query)
        elif "/operation/" in url.path:  # the RPC v2 protocol names it in the path
            operation = url.path.rsplit("/", 1)[-1]
        else:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            operation = form.get("Action", [f"{self.command} {url.path}"])[0]
        bodies = None
        if service == "dynamodb" and target and target.startswith("DynamoDBStreams"):
            service = "streams"
        elif service == "dynamodb":
            bodies = (body, payload)
        self.server.counts.add(
            Call(
                self.server.part,
                service,
                operation,
                status < 400,
                len(body),
                len(payload),
                time.time(),
                url.path,
                bodies,
            )
        )

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, part: str, counts: Counts) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parsed = urllib.parse.urlsplit(upstream)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.part = part
        self.counts = counts
        self.local = threading.local()


class CountingProxy:
    """One listening port per part, so every call is attributed to the part that made it."""

    def __init__(self, upstream: str, counts: Counts | None = None) -> None:
        self.upstream = upstream
        self.counts = counts or Counts()
        self._servers: dict[str, _Server] = {}

    def endpoint(self, part: str) -> str:
        """The URL a part uses instead of the stack's (started on first use)."""
        server = self._servers.get(part)
        if server is None:
            server = _Server(self.upstream, part, self.counts)
            threading.Thread(target=server.serve_forever, name=f"proxy-{part}", daemon=True).start()
            self._servers[part] = server
        return f"http://127.0.0.1:{server.server_address[1]}"

    def close(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers.clear()
