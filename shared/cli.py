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
from typing import Any

from shared import __version__
from shared.errors import FpwError

PART_CLIS = ("infra.cli", "client.cli", "fetcher.cli", "processor.cli", "watcher.cli")


CONFIG_HELP = "settings file (TOML); default: see docs/configuration.md"


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (``fpw status --config F``).

    Defaults are suppressed so that a value given before the command name is
    not reset by the command's own parser.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    return common


class _SubParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs["parents"] = [*kwargs.get("parents", []), _common()]
        return super().add_parser(name, **kwargs)  # type: ignore[no-any-return]


class _Parser(argparse.ArgumentParser):
    """Sub-commands at every depth (``fpw admin site add``) take the common options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubParsers)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fpw", description="File Processing Wrapper: files in, encrypted results out."
    )
    parser.add_argument("--version", action="version", version=f"fpw {__version__}")
    parser.add_argument("--config", help=CONFIG_HELP)
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
