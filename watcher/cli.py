"""``fpw watcher``: sweep once (for CRON or a scheduled task) or in a loop."""

from __future__ import annotations

import argparse
import signal
import threading


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("watcher", help="restart stalled jobs and delete leftover data")
    parser.add_argument("--once", action="store_true", help="one sweep, then exit (for CRON)")
    parser.add_argument("--interval", type=float, help="seconds between sweeps (default 30)")
    parser.add_argument("--stall-seconds", type=float, help="heartbeat age that counts as stalled")
    parser.add_argument("--json-logs", action="store_true", help="structured JSON logs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shared.aws import Aws
    from shared.config import load_settings
    from shared.logs import setup
    from shared.record import utc_now
    from watcher.sweep import Sweeper

    setup(json_lines=args.json_logs, verbose=args.verbose)
    settings = load_settings(
        args.config,
        overrides={
            "watcher.interval_seconds": args.interval,
            "watcher.stall_seconds": args.stall_seconds,
        },
    )
    sweeper = Sweeper(settings, Aws(settings.aws, "fpw-watcher"))
    if args.once:
        report = sweeper.sweep(utc_now())
        return 1 if report.errors else 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        try:
            sweeper.sweep(utc_now())
        except Exception:  # a failed sweep must not end the loop
            import logging

            logging.getLogger(__name__).exception("sweep failed")
        stop.wait(settings.watcher.interval_seconds)
    return 0
