"""Container health checks, for Docker's HEALTHCHECK and ECS's healthCheck.

``python -m infra.healthcheck URL`` exits 0 when URL answers 2xx within the
time limit (the processor's ``/health``; the fetcher checks the processor it
depends on, since without it the fetcher can do no work).
``python -m infra.healthcheck --alive`` exits 0 while the container's main
process runs and is not stopped or a zombie (the watcher, which serves no
HTTP). Standard library only, so that it runs in any of our images without
importing the project's dependencies.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path


def url_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return 200 <= int(answer.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def process_alive(status_file: Path = Path("/proc/1/status")) -> bool:
    """PID 1 (the part, under tini or alone) exists and is neither stopped nor a zombie."""
    try:
        status = status_file.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.split()[1] not in ("Z", "T", "X")
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="container health check")
    parser.add_argument("url", nargs="?", help="URL that must answer 2xx")
    parser.add_argument("--alive", action="store_true", help="check the main process instead")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    if args.alive:
        return 0 if process_alive() else 1
    if not args.url:
        parser.error("give a URL or --alive")
    return 0 if url_ok(args.url, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
