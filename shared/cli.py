"""The single ``fpw`` entry point.

Each part owns its subcommands in its own ``cli`` module, which exposes
``register(subparsers)``; this dispatcher only stitches them together, so the
parts stay independent of each other.

It is also the one place where an expected failure (AWS refusing or
unreachable, missing credentials, a reader that closed the pipe) becomes one
line a person can act on and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
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


DENIED = {
    "403",
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
}
"""Error codes that mean: these credentials may not do this."""

SIGPIPE_EXIT = 141
"""What a shell reports for a program ended by a closed pipe (128 + SIGPIPE)."""


def one_line(text: str, limit: int = 300) -> str:
    """A message on one line: the ``<Message>`` of an XML error body, spaces collapsed."""
    found = re.search(r"<Message>(.*?)</Message>", text, re.S)
    if found:
        text = found.group(1)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(config: Path | None) -> str:
    if config is None:
        return "the default AWS credentials (no settings file)"
    return f"the settings in {config}"


def explain(exc: BaseException, config: Path | None = None, *, admin: bool = False) -> str | None:
    """One actionable line for an expected failure; None for a bug (keep its traceback)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    from shared.aws import error_code, error_message

    cause = exc.__cause__
    if isinstance(exc, FpwError) and isinstance(cause, ClientError) and error_code(cause) in DENIED:
        exc = cause  # AWS's refusal, explained with the settings to fix
    if isinstance(exc, FpwError):
        return one_line(str(exc), 1000)
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = one_line(error_message(exc))
        if code in DENIED:
            fix = (
                "run it beside `fpw up` (which writes .fpw/admin.toml), or pass --config with"
                " an admin's settings"
                if admin
                else "pass --config with settings whose aws.role_arn allows it"
            )
            return (
                f"AWS refused {exc.operation_name} to {_where(config)} ({code}: {message}); {fix}"
            )
        if code in ("ResourceNotFoundException", "NoSuchBucket", "NoSuchKey"):
            return (
                f"{exc.operation_name} found nothing ({code}: {message}); check aws.table,"
                f" aws.clients_table and aws.bucket in {_where(config)}"
            )
        return f"AWS answered {exc.operation_name} with {code}: {message}"
    unreachable = (
        EndpointConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
        ConnectionClosedError,
    )
    if isinstance(exc, unreachable):
        return (
            f"cannot reach AWS ({one_line(str(exc))}); is the endpoint up? Check"
            f" aws.endpoint_url and aws.region in {_where(config)}"
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return (
            f"no usable AWS credentials ({one_line(str(exc))}); set aws.profile or"
            f" aws.access_key_id in {_where(config)}, or pass --config"
        )
    if isinstance(exc, NoRegionError):
        return f"no AWS region; set aws.region in {_where(config)}"
    if isinstance(exc, BotoCoreError):
        return f"AWS call failed: {one_line(str(exc))}"
    return None


def explain_for(exc: BaseException, explicit: str | None, *, admin: bool) -> str | None:
    """``explain``, naming the settings file the command read (``--config`` or the
    default one); None for a bug."""
    from shared.config import config_path

    try:
        config = config_path(explicit, os.environ, admin=admin)
    except Exception:
        config = None
    return explain(exc, config, admin=admin)


def _silence_stdout() -> None:
    """After a reader closed our pipe: drop what is left instead of failing at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # A command whose reader expects one line (``fpw check``) says it its own way.
        getattr(args, "usage_error", parser.error)(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    admin = bool(getattr(args, "admin_config", False))
    try:
        result = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return SIGPIPE_EXIT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        explained = explain_for(exc, getattr(args, "config", None), admin=admin)
        if explained is None:
            raise
        logging.getLogger("fpw").debug("failed", exc_info=True)
        try:
            print(f"fpw: error: {explained}", file=sys.stderr)
        except BrokenPipeError:
            pass
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
