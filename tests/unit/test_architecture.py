"""The layout's rules, read from the source: each AWS service is called from the
layer named for it, the parts stay small enough to read, and dependencies point
one way (the parts on ``shared``, nothing in the product on the local stack or
the release tooling). docs/architecture.md describes the layout these keep.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("client", "fetcher", "processor", "watcher")
PRODUCT = (*PARTS, "shared")

DYNAMODB_LAYER = {"shared/table.py", "shared/clients.py", "shared/joins.py"}
"""The only modules that call DynamoDB (jobs, clients and join-request tables)."""
S3_LAYER = {"shared/store.py"}
"""The only module that calls S3."""
ERROR_CODE_LAYER = {"shared/aws.py"}
"""The only module that reads an AWS error's code (``shared.aws.error_code``)."""
DEPLOY_LAYER = {"infra/deploy.py"}
"""Creates, inspects and deletes the deployment's own resources (CloudFormation, its
tables and buckets): the layer of the deploy commands, outside the product."""

DYNAMODB_ONLY = {
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
}
DYNAMODB_SHARED_NAMES = {"query", "scan"}
"""Also names of our own methods (``JobTable.scan``): a call counts when its receiver is
a DynamoDB client."""
S3_CALLS = {
    "put_object",
    "get_object",
    "head_object",
    "delete_object",
    "delete_objects",
    "copy_object",
    "list_objects",
    "list_objects_v2",
    "upload_file",
    "upload_fileobj",
    "download_file",
    "download_fileobj",
    "create_multipart_upload",
}

MAX_LINES = 400


def _modules(*packages: str) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _receiver(call: ast.Call) -> str:
    assert isinstance(call.func, ast.Attribute)
    return ast.unparse(call.func.value).lower()


def _aws_calls(tree: ast.Module) -> Iterator[tuple[str, int, str]]:
    """(service, line, method) of every DynamoDB and S3 client call."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        if name in DYNAMODB_ONLY or (
            name in DYNAMODB_SHARED_NAMES and "dynamodb" in _receiver(node)
        ):
            yield "dynamodb", node.lineno, name
        elif name in S3_CALLS or (name == "get_paginator" and "s3" in _receiver(node)):
            yield "s3", node.lineno, name


def _error_code_lookups(tree: ast.Module) -> Iterator[int]:
    """Lines that read ``["Error"]`` of a botocore answer (``.get("Error")`` included)."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "Error"
        ):
            yield node.lineno
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value == "Error"
        ):
            yield node.lineno


def _type_only(tree: ast.Module) -> set[int]:
    """Ids of the import nodes under ``if TYPE_CHECKING:`` (no edge at run time)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            ids.update(id(inner) for inner in ast.walk(node))
    return ids


def _imports(tree: ast.Module) -> set[str]:
    """Every absolute module imported at run time, at any depth of the module."""
    skip = _type_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_dynamodb_and_s3_are_called_only_from_their_layers() -> None:
    misplaced = [
        f"{path}:{line}: {service} {method}"
        for path, tree in _modules(*PRODUCT, "infra")
        if not path.startswith(("infra/local/", "infra/release/")) and path not in DEPLOY_LAYER
        for service, line, method in _aws_calls(tree)
        if path not in (DYNAMODB_LAYER if service == "dynamodb" else S3_LAYER)
    ]
    assert misplaced == []


def test_only_the_layer_reads_an_aws_error_code() -> None:
    misplaced = [
        f"{path}:{line}"
        for path, tree in _modules(*PRODUCT, "infra")
        if path not in ERROR_CODE_LAYER | DEPLOY_LAYER
        and not path.startswith(("infra/local/", "infra/release/"))
        for line in _error_code_lookups(tree)
    ]
    assert misplaced == []


@pytest.mark.parametrize("package", ["client", "fetcher", "watcher"])
def test_no_module_of_a_part_is_over_400_lines(package: str) -> None:
    long = {
        path: lines
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    named = {path.relative_to(ROOT).as_posix(): lines for path, lines in long.items()}
    assert named == {}


def test_the_parts_depend_on_shared_and_never_on_each_other() -> None:
    upward = [
        f"{path} imports {module}"
        for path, tree in _modules(*PARTS)
        for module in _imports(tree)
        if (top := module.split(".")[0]) in (*PARTS, "infra") and top != path.split("/")[0]
    ]
    assert upward == []


def test_shared_depends_on_no_part() -> None:
    upward = [
        f"{path} imports {module}"
        for path, tree in _modules("shared")
        if path != "shared/cli.py"  # the `fpw` entry point: it gathers every part's commands
        for module in _imports(tree)
        if module.split(".")[0] in (*PARTS, "infra")
    ]
    assert upward == []


def test_nothing_in_the_product_depends_on_the_local_stack_or_the_release_tooling() -> None:
    upward = [
        f"{path} imports {module}"
        for path, tree in _modules(*PRODUCT, "infra")
        if not path.startswith(("infra/local/", "infra/release/"))
        and path not in {"shared/cli.py", "infra/cli.py"}  # the commands that start them
        for module in _imports(tree)
        if module.startswith(("infra.local", "infra.release"))
    ]
    assert upward == []


def test_no_two_parts_define_a_class_of_the_same_name() -> None:
    # A name says what a thing is: `Engine` in the client and in the image tooling,
    # or `Outcome` in the client and the fetcher, made readers guess which was meant.
    homes: dict[str, set[str]] = {}
    for path, tree in _modules(*PRODUCT, "infra"):
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                homes.setdefault(node.name, set()).add(path)
    shared_names = {name: sorted(paths) for name, paths in homes.items() if len(paths) > 1}
    assert shared_names == {}
