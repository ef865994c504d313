"""``fpw infra smoke``: a throwaway desktop sends one file through a running
fleet with only what ``fpw admin site add`` hands out, and leaves nothing
behind, whether the file comes back or not."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from infra.local.stack import LocalStack
from infra.local.up import System, aws_table
from shared.aws import Aws
from shared.config import dump_toml
from tests.helpers import run_fpw


def _leftovers(stack: LocalStack) -> tuple[list[str], list[str]]:
    """Site users and client registrations a smoke test made."""
    aws = Aws(stack.admin_settings(), "test-admin")
    iam: Any = aws.client("iam")
    users = [
        u["UserName"]
        for u in iam.list_users(PathPrefix="/fpw/sites/")["Users"]
        if u["UserName"].startswith(f"{stack.outputs['Deployment']}-site-smoke-")
    ]
    rows = aws.dynamodb.scan(TableName=stack.outputs["ClientsTable"], ConsistentRead=True)
    smoke = [i["client"]["S"] for i in rows["Items"] if "fpw infra smoke" in i["label"]["S"]]
    return users, smoke


def test_smoke_passes_on_a_running_fleet_and_fails_cleanly_without_one(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    config = tmp_path / "admin.toml"
    config.write_text(dump_toml({"aws": aws_table(stack.admin_settings())}), encoding="utf-8")
    name = ("--stack-name", f"{stack.outputs['Deployment']}-local")

    # No fetcher runs yet: the job waits, the test gives up, and cleans up.
    failed = run_fpw(config, "infra", "smoke", *name, "--smoke-timeout", "3")
    assert failed.returncode != 0
    assert "no result after" in failed.stderr
    assert "client key removed from the registry" in failed.stdout
    assert _leftovers(stack) == ([], [])
    # Its job does not stay queued (it would wake a fleet at zero for nobody).
    queued = re.search(r"job (\S+) queued", failed.stdout)
    assert queued is not None, failed.stdout
    assert f"its queued job {queued.group(1)} ended" in failed.stdout
    record = Aws(stack.admin_settings(), "test-admin").dynamodb.get_item(
        TableName=stack.outputs["JobsTable"], Key={"file": {"S": queued.group(1)}}
    )["Item"]
    assert record["status"]["S"] == "ERROR"

    system.start_fetcher()
    passed = run_fpw(config, "infra", "smoke", *name, "--smoke-timeout", "120", timeout=240)
    assert passed.returncode == 0, passed.stderr
    assert "smoke test passed" in passed.stdout
    # What desktops need: the deployment's names, never a key.
    assert f"aws.bucket = {stack.outputs['Bucket']}" in passed.stdout
    assert f"aws.role_arn = {stack.outputs['ClientRoleArn']}" in passed.stdout
    assert "fpw admin site add SITE --output SITE.toml" in passed.stdout
    assert "client.fleet_keys" in passed.stdout
    assert _leftovers(stack) == ([], [])


def test_deploy_skips_the_smoke_test_of_a_stack_without_a_fleet(
    stack: LocalStack, tmp_path: Path
) -> None:
    config = tmp_path / "admin.toml"
    config.write_text(dump_toml({"aws": aws_table(stack.admin_settings())}), encoding="utf-8")
    name = ("--stack-name", f"{stack.outputs['Deployment']}-local")
    done = run_fpw(config, "infra", "deploy", *name)
    assert done.returncode == 0, done.stderr
    assert "no changes" in done.stdout
    assert "no fleet in this stack (Fleet=none): run `fpw infra smoke`" in done.stdout
