"""``fpw client`` (the desktop agent, headless here) and ``fpw submit``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from shared.errors import ConfigError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    client = subparsers.add_parser("client", help="run the desktop agent (watch a folder)")
    client.add_argument("--headless", action="store_true", help="no tray icon; log to the terminal")
    client.add_argument("--inbox", help="folder to watch (default ./inbox)")
    client.add_argument("--results", help="folder for results (default <inbox>/results)")
    client.add_argument("--state-dir", help="key pair and state database")
    client.add_argument("--params", help="processing params for this folder, as JSON")
    client.add_argument(
        "--show-id", action="store_true", help="print this computer's client id and exit"
    )
    client.set_defaults(func=run_client)

    submit = subparsers.add_parser(
        "submit", help="send one file and optionally wait for its result"
    )
    submit.add_argument("file", type=Path)
    submit.add_argument("--wait", action="store_true", help="wait and print the decrypted result")
    submit.add_argument(
        "--params", help='processing params as JSON, e.g. \'{"profile":"default"}\''
    )
    submit.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait (default 600)"
    )
    submit.add_argument("--state-dir", help="key pair and state database")
    submit.set_defaults(func=run_submit)


def _params(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--params is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError("--params must be a JSON object")
    return value


def _engine(args: argparse.Namespace, overrides: dict[str, Any]) -> Any:
    from client.engine import Engine
    from shared.aws import Aws
    from shared.config import load_settings
    from shared.logs import setup

    setup(json_lines=False, verbose=args.verbose)
    settings = load_settings(args.config, overrides=overrides)
    return Engine(settings, Aws(settings.aws, "fpw-client"))


def run_client(args: argparse.Namespace) -> int:
    from client.watch import InboxWatcher

    overrides = {
        "client.inbox": args.inbox,
        "client.results": args.results,
        "client.state_dir": args.state_dir,
        "client.params": _params(args.params),
    }
    engine = _engine(args, overrides)
    if args.show_id:
        print(engine.client_id)
        return 0
    if not args.headless:
        log.info("the tray app is not part of this build; running headless")
    watcher = InboxWatcher(
        engine.inbox,
        lambda path: engine.submit(path, source="watch"),
        engine.settings.client.stable_seconds,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()
        watcher.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher.start()
    loop = threading.Thread(target=watcher.loop, name="fpw-watch", daemon=True)
    loop.start()
    print(f"watching {engine.inbox} (results in {engine.results_dir})", flush=True)
    print(f"client id: {engine.client_id[:24]}…", flush=True)
    try:
        engine.run(until=stop.is_set)
    finally:
        watcher.stop()
        engine.stop()
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from client.state import Phase

    engine = _engine(args, {"client.state_dir": args.state_dir})
    try:
        file_id = engine.submit(args.file, _params(args.params), source="submit")
        if file_id is None:
            print("this file is already being processed", file=sys.stderr)
            return 1
        print(f"submitted {args.file.name} as {file_id}", file=sys.stderr, flush=True)
        if not args.wait:
            engine.wait_uploaded(file_id, args.timeout)
            return 0
        drop = engine.wait(file_id, args.timeout)
        if drop.phase is Phase.FAILED:
            print(f"fpw: {args.file.name} failed: {drop.error}", file=sys.stderr)
            return 1
        assert drop.result_path is not None
        print(f"result saved to {drop.result_path}", file=sys.stderr)
        body = drop.result_path.read_bytes()
        try:
            sys.stdout.write(body.decode("utf-8"))
            if not body.endswith(b"\n"):
                sys.stdout.write("\n")
        except UnicodeDecodeError:
            print(f"(binary result, {len(body)} bytes)")
        return 0
    finally:
        engine.stop()
