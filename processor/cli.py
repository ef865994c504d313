"""``fpw processor``: run the reference analysis container."""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("processor", help="run the reference analysis container")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--max-bytes", type=int, default=1 << 30, help="largest file accepted")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per analysis")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from processor.server import serve

    server = serve(args.host, args.port, max_bytes=args.max_bytes, time_limit=args.time_limit)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(f"processor listening on http://{args.host}:{server.port}", file=sys.stderr, flush=True)
    stopped.wait()
    server.shutdown()
    return 0
