"""The ``fpw`` command line: common options go before or after the command name."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from shared.cli import build_parser, explain
from shared.errors import ConfigError


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


def test_expected_failures_become_one_line_that_names_the_setting_to_change() -> None:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse>\n  <Error>\n'
        "    <Code>AccessDenied</Code>\n    <Message>User: arn:aws:sts::1:assumed-role/fpw-client/x"
        " is not authorized to perform: dynamodb:Scan</Message>\n  </Error>\n</ErrorResponse>"
    )
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": xml}}, "Scan")
    line = explain(denied, Path(".fpw/config.toml"), admin=True)
    assert line is not None and "\n" not in line and "<" not in line
    assert "AWS refused Scan to the settings in .fpw/config.toml" in line
    assert "not authorized to perform: dynamodb:Scan" in line and "admin.toml" in line
    down = explain(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), None)
    assert down is not None and down.startswith("cannot reach AWS") and "aws.endpoint_url" in down
    assert explain(ConfigError("bad", hint="fix it"), None) == "bad (fix it)"
    assert explain(ValueError("a bug"), None) is None  # a bug keeps its traceback
