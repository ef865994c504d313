"""``fpw fetcher``: run one fetcher beside an analysis container."""

from __future__ import annotations

import argparse
import signal
import threading


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("fetcher", help="claim jobs and hand them to the processor")
    parser.add_argument(
        "--processor-url", help="analysis container (default http://127.0.0.1:8080)"
    )
    parser.add_argument("--work-dir", help="scratch space for merged files")
    parser.add_argument("--supported-versions", help="client versions to accept (semver range)")
    parser.add_argument("--once", action="store_true", help="handle at most one job, then exit")
    parser.add_argument("--json-logs", action="store_true", help="structured JSON logs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fetcher.worker import Fetcher
    from shared.aws import Aws
    from shared.config import load_settings
    from shared.logs import setup

    setup(json_lines=args.json_logs, verbose=args.verbose)
    settings = load_settings(
        args.config,
        overrides={
            "fetcher.processor_url": args.processor_url,
            "fetcher.work_dir": args.work_dir,
            "fetcher.supported_versions": args.supported_versions,
        },
    )
    fetcher = Fetcher(settings, Aws(settings.aws, "fpw-fetcher"))
    if args.once:
        fetcher.run_once()
        return 0

    # The loop runs in a worker thread so that the main thread can enforce the
    # shutdown grace even while the worker is blocked on the processor.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = threading.Thread(target=fetcher.run, name="fetcher", daemon=True)
    worker.start()
    while worker.is_alive() and not stop.wait(1.0):
        pass
    # A job given back at shutdown is not a failure: another fetcher takes it.
    fetcher.shutdown(settings.fetcher.shutdown_grace_seconds)
    worker.join(timeout=10)
    return 0
