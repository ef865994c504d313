"""Renders the settings reference (docs/configuration.md) from the dataclasses,
so the documented list cannot drift from the code: a test compares them.

Run ``python -m shared.settings_doc > docs/configuration.md`` after changing a setting.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

from shared import config

INTRO = """# Settings

Every part reads its settings through one loader (`shared/config.py`), in this order,
each overriding the one before:

1. the defaults below;
2. a TOML file: `--config FILE`, else `$FPW_CONFIG`, else `./.fpw/config.toml` (written by
   `fpw up`), else `~/.config/fpw/config.toml`; admin commands (`fpw status`, `fpw check`,
   `fpw clients`, `fpw infra`, `fpw admin`) try `./.fpw/admin.toml` (also written by
   `fpw up`, with the stack's admin key) before `./.fpw/config.toml`;
3. environment variables `FPW_<GROUP>_<NAME>`, e.g. `FPW_AWS_ENDPOINT_URL`;
4. command-line flags.

An unknown setting or a malformed value stops the command with an error naming it.
Durations are in seconds and sizes in bytes.
"""


def _field_docs() -> dict[tuple[str, str], str]:
    tree = ast.parse(inspect.getsource(config))
    docs: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt, after in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
            ):
                docs[(node.name, stmt.target.id)] = " ".join(str(after.value.value).split())
    return docs


def _show(value: object) -> str:
    if isinstance(value, Path | str):
        return f'"{value}"'
    return "(none)" if value is None else repr(value)


def markdown() -> str:
    docs = _field_docs()
    lines = [INTRO]
    for group in dataclasses.fields(config.Settings):
        cls = type(getattr(config.Settings(), group.name))
        defaults = cls()
        lines += [
            f"## `[{group.name}]`",
            "",
            "| setting | default | meaning |",
            "| --- | --- | --- |",
        ]
        for item in dataclasses.fields(cls):
            meaning = docs.get((cls.__name__, item.name), "")
            lines.append(f"| `{item.name}` | `{_show(getattr(defaults, item.name))}` | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
