"""The ``fpw`` command line: common options go before or after the command name."""

from __future__ import annotations

import pytest

from shared.cli import build_parser


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "ops.toml", "status"],
        ["status", "--config", "ops.toml"],
        ["clients", "register", "client-04ab", "--label", "lab", "--config", "ops.toml"],
        ["admin", "site", "add", "lab-3", "--config", "ops.toml"],
    ],
)
def test_the_settings_file_is_taken_wherever_it_is_given(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).config == "ops.toml"


def test_without_options_the_defaults_hold() -> None:
    args = build_parser().parse_args(["check"])
    assert args.config is None and args.verbose is False
    assert build_parser().parse_args(["check", "-v"]).verbose is True
