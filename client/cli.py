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


def _settings(args: argparse.Namespace, overrides: dict[str, Any]) -> Any:
    """The settings in force, once logging is set up for the terminal."""
    from shared.config import load_settings
    from shared.logs import setup

    setup(json_lines=False, verbose=args.verbose)
    return load_settings(args.config, overrides=overrides)


def run_client(args: argparse.Namespace) -> int:
    overrides = {
        "client.inbox": args.inbox,
        "client.results": args.results,
        "client.state_dir": args.state_dir,
        "client.params": _params(args.params),
    }
    if not args.headless and not args.show_id:
        return _run_tray(args, overrides)
    from client.agent import Agent
    from client.keystore import load_client_key

    settings = _settings(args, overrides)
    if args.show_id:
        from shared.signing import client_id

        key = load_client_key(settings.client.state_dir.expanduser())
        print(client_id(key.public_key()))
        return 0
    agent = Agent(settings)
    if settings.client.html_reports:
        from client.report import write_reports

        write_reports(agent)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.start()
    for folder, params in agent.folders:
        suffix = f" with params {json.dumps(params)}" if params else ""
        print(f"watching {folder}{suffix}", flush=True)
    print(f"results in {agent.engine.places.results}", flush=True)
    print(f"client id: {agent.client_id[:24]}…", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        agent.stop()
    return 0


def _run_tray(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    try:
        from client.gui.app import main
    except ImportError as exc:
        raise ConfigError(
            f"the tray app needs PySide6 ({exc})",
            hint="pip install 'fpw[desktop]', or run 'fpw client --headless'",
        ) from exc
    return main(config=args.config, overrides=overrides, verbose=args.verbose)


def run_submit(args: argparse.Namespace) -> int:
    from client.api import Client
    from client.state import Phase

    engine = Client(_settings(args, {"client.state_dir": args.state_dir})).engine
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
        if drop.phase is not Phase.DONE:
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
