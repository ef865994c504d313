"""An analysis container that answers at once: ``python -m bench.instant --port N``.

Standard library only, so that it also runs as a script in the processor
image (``bench/fleets.py``).

It implements processor/openapi.yaml's ``POST /analyze`` and ``GET /health``
(``/progress`` answers 404, as the contract allows) and does no analysis:
it reads the file and returns a small JSON result, so that benchmarks
measure the pipeline around the processor and nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_BLOCK = 1024 * 1024


class Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def _answer(self, status: int, data: dict[str, object]) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(200, {"status": "ok", "version": "instant", "busy": 0})
        else:
            self._answer(404, {"error": "no such resource"})

    def do_POST(self) -> None:
        if self.path != "/analyze":
            self._answer(404, {"error": "no such resource"})
            return
        length = self.headers.get("Content-Length")
        if length is None:
            self._answer(411, {"error": "Content-Length is required"})
            return
        left = int(length)
        digest = hashlib.sha256()
        while left > 0:
            block = self.rfile.read(min(_BLOCK, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
        self._answer(
            200,
            {
                "kind": "instant",
                "job": self.headers.get("X-Fpw-Job", ""),
                "bytes": int(length),
                "sha256": digest.hexdigest(),
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)"
    )
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Instant)
    print(f"instant processor on http://{args.host}:{args.port} (pid {os.getpid()})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
