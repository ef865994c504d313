"""The documents that must stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from shared.settings_doc import markdown

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_reference_matches_the_code() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert documented == markdown(), "run: python -m shared.settings_doc > docs/configuration.md"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(.+?)\n```", readme)
    assert len(commands) == 2, "the quick start is exactly two commands"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci
    assert commands[0].endswith("fpw up")
