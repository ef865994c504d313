"""``fpw up``, ``fpw stack`` and ``fpw admin``: running and administering a deployment."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.config import AwsSettings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = subparsers.add_parser("up", help="run the whole system locally (until Ctrl-C)")
    up.add_argument(
        "--inbox", type=Path, default=Path("inbox"), help="watched folder (default ./inbox)"
    )
    up.add_argument("--fetchers", type=int, default=1, help="number of fetchers (default 1)")
    up.add_argument("--port", type=int, default=0, help="local stack port (default: a free one)")
    up.add_argument(
        "--home", type=Path, default=Path(".fpw"), help="state and logs (default ./.fpw)"
    )
    up.set_defaults(func=_up)

    stack = subparsers.add_parser("stack", help="run only the local AWS stack (until Ctrl-C)")
    stack.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    stack.add_argument(
        "--home", type=Path, default=Path(".fpw"), help="where stack.json is written"
    )
    stack.set_defaults(func=_stack)

    admin = subparsers.add_parser("admin", help="register or revoke client keys")
    actions = admin.add_subparsers(dest="action", metavar="ACTION", required=True)
    reg = actions.add_parser("register", help="allow a client key to submit jobs")
    reg.add_argument("client_id")
    reg.add_argument("--name", required=True, help="who or what this computer is")
    reg.set_defaults(func=_register)
    rev = actions.add_parser("revoke", help="refuse further jobs from a client key")
    rev.add_argument("client_id")
    rev.set_defaults(func=_revoke)


def _up(args: argparse.Namespace) -> int:
    from infra.up import run_up
    from shared.errors import ConfigError
    from shared.logs import setup

    setup(json_lines=False, verbose=args.verbose)
    if args.fetchers < 1:
        raise ConfigError("--fetchers must be at least 1")
    return run_up(args.inbox, args.fetchers, args.port, args.home)


def _stack(args: argparse.Namespace) -> int:
    from infra.localstack import start_local_stack
    from shared.logs import setup

    setup(json_lines=False, verbose=args.verbose)
    home: Path = args.home.resolve()
    stack = start_local_stack(home / "stack", port=args.port, log_file=home / "logs" / "stack.log")
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"local stack at {stack.endpoint} (state in {home / 'stack' / 'stack.json'})")
    print(json.dumps(stack.outputs, indent=2), flush=True)
    try:
        stopped.wait()
    finally:
        stack.stop()
    return 0


def _admin_settings(args: argparse.Namespace) -> AwsSettings:
    from shared.config import load_settings

    return load_settings(args.config).aws


def _register(args: argparse.Namespace) -> int:
    from infra.admin import register_client
    from shared.signing import public_key_from_client_id

    public_key_from_client_id(args.client_id)  # refuse a malformed id before storing it
    register_client(_admin_settings(args), args.client_id, args.name)
    print(f"registered {args.client_id[:24]}… as {args.name!r}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from infra.admin import revoke_client

    if not revoke_client(_admin_settings(args), args.client_id):
        print(f"{args.client_id[:24]}… was not registered")
        return 1
    print(f"revoked {args.client_id[:24]}…")
    return 0
