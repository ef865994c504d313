"""The single ``fpw`` entry point.

Each part owns its subcommands in its own ``cli`` module, which exposes
``register(subparsers)``; this dispatcher only stitches them together, so the
parts stay independent of each other.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from shared import __version__
from shared.errors import FpwError

PART_CLIS = ("infra.cli", "client.cli", "fetcher.cli", "processor.cli", "watcher.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fpw", description="File Processing Wrapper: files in, encrypted results out."
    )
    parser.add_argument("--version", action="version", version=f"fpw {__version__}")
    parser.add_argument("--config", help="settings file (TOML); default: see docs/configuration.md")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in PART_CLIS:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except FpwError as exc:
        logging.getLogger("fpw").debug("failed", exc_info=True)
        print(f"fpw: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
