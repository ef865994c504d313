"""``fpw watcher``: sweep once (for CRON or a scheduled task) or in a loop."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any, NoReturn


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("watcher", help="restart stalled jobs and delete leftover data")
    parser.add_argument("--once", action="store_true", help="one sweep, then exit (for CRON)")
    parser.add_argument("--interval", type=float, help="seconds between sweeps (default 30)")
    parser.add_argument("--stall-seconds", type=float, help="heartbeat age that counts as stalled")
    parser.add_argument("--json-logs", action="store_true", help="structured JSON logs")
    parser.set_defaults(func=run)

    status = subparsers.add_parser(
        "status", help="the queue for a person: counts, oldest, stalled, fetchers, errors"
    )
    status.set_defaults(func=run_status, admin_config=True)

    check = subparsers.add_parser(
        "check",
        help="health check for CRON and monitoring (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
    )
    for flag, default, what in (
        ("--queue", (100.0, 1000.0), "queued jobs"),
        ("--age", (600.0, 1800.0), "seconds the oldest queued job has waited"),
        ("--stalled", (1.0, 5.0), "stalled jobs"),
        ("--errors", (5.0, 50.0), "jobs that ended in ERROR in the last hour"),
    ):
        check.add_argument(
            flag,
            nargs=2,
            type=float,
            default=default,
            metavar=("WARN", "CRIT"),
            help=f"{what} (default {default[0]:g} {default[1]:g})",
        )
    check.set_defaults(func=run_check, admin_config=True, usage_error=_check_usage)
    check.error = _check_usage  # type: ignore[method-assign]


def _check_usage(message: str) -> NoReturn:
    """A monitor reads one line and the exit code, also when it is misconfigured."""
    print(f"FPW UNKNOWN - fpw check: {message} (see fpw check --help)")
    sys.exit(3)


def _snapshot(args: argparse.Namespace) -> tuple[Any, Any]:
    import botocore.config

    from shared.aws import Aws
    from shared.config import load_settings
    from shared.record import utc_now
    from shared.table import JobTable
    from watcher.ops import collect

    settings = load_settings(args.config, admin=True)
    aws = Aws(settings.aws, "fpw-ops")
    # A person or a monitor is waiting: a few quick tries, not a part's patience.
    quick = botocore.config.Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
    )
    dynamodb = aws.client("dynamodb", quick)
    return settings, collect(JobTable(dynamodb, settings.aws.table), settings, utc_now())


def run_status(args: argparse.Namespace) -> int:
    from watcher.ops import render_status

    settings, snap = _snapshot(args)
    print(render_status(snap, settings.watcher.deployment))
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Exactly one line on stdout whatever happens; UNKNOWN (3) when it cannot tell."""
    import logging
    import warnings

    from shared.cli import explain_for, one_line
    from watcher.ops import Severity, evaluate, thresholds

    # A monitoring system reads one line: nothing else may reach the terminal.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    try:
        _, snap = _snapshot(args)
        limits = thresholds(args.queue, args.age, args.stalled, args.errors)
        state, line = evaluate(snap, limits)
    except Exception as exc:
        why = explain_for(exc, args.config, admin=True) or f"{type(exc).__name__}: {exc}"
        print(f"FPW UNKNOWN - cannot read the jobs table: {one_line(why, 1000)}")
        return int(Severity.UNKNOWN)
    print(line)
    return int(state)


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
