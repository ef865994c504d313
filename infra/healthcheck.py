"""Container health checks, for Docker's HEALTHCHECK and ECS's healthCheck.

``python -m infra.healthcheck URL`` exits 0 when URL answers 2xx within the
time limit (the processor's ``/health``). ``--env-url NAME --path /health``
takes the base URL from an environment variable: the fetcher checks the
processor it depends on that way, since without it the fetcher can do no work.
``python -m infra.healthcheck --alive`` exits 0 while the container's main
process runs and is not stopped or a zombie (the watcher, which serves no
HTTP). ``--file PATH`` exits 0 once PATH exists (the local stack's container,
ready when it has written the parts' settings). ``--aws`` adds a check
that AWS (the settings' ``endpoint_url``, else the region's STS endpoint)
answers HTTP at all: a fetcher or watcher cut off from AWS can do no work, so
it must turn unhealthy and be replaced rather than idle on. Standard library
only, so that it runs in any of our images without the project's dependencies.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

# The fetcher's default processor_url (shared.config), not imported: stdlib only.
DEFAULT_PROCESSOR_URL = "http://127.0.0.1:8080"


def answers(url: str, timeout: float, *, any_status: bool = False) -> bool:
    """URL answers 2xx; with ``any_status``, any HTTP answer counts (an unsigned
    request is refused, but AWS is there)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return any_status or 200 <= int(answer.status) < 300
    except urllib.error.HTTPError:
        return any_status
    except (urllib.error.URLError, OSError, ValueError):
        return False


def aws_endpoint(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """Where the part talks to AWS: ``FPW_AWS_ENDPOINT_URL``, the settings file's
    ``[aws] endpoint_url``, else the region's public STS endpoint."""
    aws: dict[str, object] = {}
    config = environ.get("FPW_CONFIG")
    if config:
        with contextlib.suppress(OSError, ValueError):
            table = tomllib.loads(Path(config).read_text(encoding="utf-8")).get("aws", {})
            aws = table if isinstance(table, dict) else {}
    endpoint = environ.get("FPW_AWS_ENDPOINT_URL") or aws.get("endpoint_url")
    if isinstance(endpoint, str) and endpoint:
        return endpoint
    region = (
        environ.get("FPW_AWS_REGION")
        or (aws.get("region") if isinstance(aws.get("region"), str) else None)
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    return f"https://sts.{region}.amazonaws.com"


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
    parser.add_argument("--env-url", metavar="NAME", help="take the base URL from $NAME")
    parser.add_argument("--path", default="", help="appended to the URL (with --env-url)")
    parser.add_argument("--alive", action="store_true", help="check the main process instead")
    parser.add_argument("--file", type=Path, help="healthy once this file exists")
    parser.add_argument("--aws", action="store_true", help="and AWS must answer")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    if args.aws and not answers(aws_endpoint(), args.timeout, any_status=True):
        return 1
    if args.aws and not (args.alive or args.file or args.url or args.env_url):
        return 0
    if args.alive:
        return 0 if process_alive() else 1
    if args.file:
        return 0 if args.file.is_file() else 1
    url = args.url
    if args.env_url:
        url = os.environ.get(args.env_url, DEFAULT_PROCESSOR_URL).rstrip("/") + args.path
    if not url:
        parser.error("give a URL, --env-url or --alive")
    return 0 if answers(url, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
