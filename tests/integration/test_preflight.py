"""What ``fpw infra deploy`` checks before it changes anything, on the local
stack: moto's STS, IAM and EC2 answer; its Service Quotas knows no EC2 quota,
so the GPU quota is "could not check", which never stops a deploy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.local.stack import LocalStack
from infra.local.up import aws_table
from infra.preflight import ECS_ROLE_PATH, Verdict, gpu_quota, preflight, quota_verdict
from shared.aws import Aws
from shared.config import AwsSettings, dump_toml
from tests.helpers import run_fpw


def _iam(stack: LocalStack) -> Any:
    return Aws(stack.admin_settings(), "test-admin").client("iam")


@pytest.fixture
def no_ecs_role(stack: LocalStack) -> Iterator[None]:
    """The account without the ECS service-linked role, as a new account is."""
    iam = _iam(stack)

    def remove() -> None:
        for role in iam.list_roles(PathPrefix=ECS_ROLE_PATH)["Roles"]:
            iam.delete_service_linked_role(RoleName=role["RoleName"])

    remove()
    yield
    remove()


def _by_name(checks: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in checks}


def test_each_prerequisite_says_what_was_found_or_what_to_do(
    stack: LocalStack, no_ecs_role: None
) -> None:
    params = {"Fleet": "ecs", "GpuInstanceType": "g4dn.xlarge", "MaxInstances": "4"}
    checks = _by_name(preflight(stack.admin_settings(), params))
    assert checks["credentials"].outcome is Verdict.OK
    assert "account" in checks["credentials"].detail
    assert checks["region"].outcome is Verdict.OK
    role = checks["ECS service-linked role"]
    assert role.outcome is Verdict.FAILED
    assert "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com" in role.detail
    # moto's Service Quotas has no EC2 quotas: said, with what to check, not failed.
    quota = checks["GPU quota"]
    assert quota.outcome is Verdict.UNKNOWN
    assert quota.line().startswith("could not check")
    assert "at least 16 vCPUs" in quota.detail and "L-DB2E81BA" in quota.detail

    _iam(stack).create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    checks = _by_name(preflight(stack.admin_settings(), params))
    assert checks["ECS service-linked role"].outcome is Verdict.OK
    # Without a fleet, neither the role nor a GPU quota matters.
    assert set(_by_name(preflight(stack.admin_settings(), {"Fleet": "none"}))) == {
        "credentials",
        "region",
    }


def test_unknown_credentials_stop_at_the_first_check(stack: LocalStack) -> None:
    stranger = AwsSettings(
        region=stack.region,
        endpoint_url=stack.endpoint,
        access_key_id="AKIA" + uuid.uuid4().hex[:16].upper(),
        secret_access_key="not-a-secret",
    )
    checks = preflight(stranger, {"Fleet": "ecs"})
    assert checks[0].name == "credentials" and checks[0].outcome is Verdict.FAILED
    assert "aws configure" in checks[0].detail
    assert [c.name for c in checks] == ["credentials", "region"]


def test_a_region_without_ecs_is_refused() -> None:
    from infra.preflight import check_region

    assert check_region(AwsSettings(region="us-est-1")).outcome is Verdict.FAILED
    assert check_region(AwsSettings(region="eu-west-1")).outcome is Verdict.OK


def test_the_gpu_quota_is_the_one_of_the_instance_family() -> None:
    assert gpu_quota("g4dn.xlarge", spot=False).code == "L-DB2E81BA"  # type: ignore[union-attr]
    assert gpu_quota("g5.2xlarge", spot=True).code == "L-3819A6DF"  # type: ignore[union-attr]
    assert gpu_quota("p4d.24xlarge", spot=False).code == "L-417A185B"  # type: ignore[union-attr]
    assert gpu_quota("m5.large", spot=False) is None


def test_a_quota_below_what_the_fleet_needs_says_what_to_ask_for() -> None:
    quota = gpu_quota("g4dn.xlarge", spot=False)
    assert quota is not None
    low = quota_verdict(quota, 0.0, "g4dn.xlarge", 4, 4)
    assert low.outcome is Verdict.FAILED
    assert low.line() == (
        "missing          GPU quota: Running On-Demand G and VT instances is 0 vCPUs, "
        "MaxInstances=4 x g4dn.xlarge (4 vCPUs) needs 16: `aws service-quotas "
        "request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA "
        "--desired-value 16` (can take a day)"
    )
    assert quota_verdict(quota, 16.0, "g4dn.xlarge", 4, 4).outcome is Verdict.OK


def test_deploy_refuses_before_creating_anything_and_names_what_to_do(
    stack: LocalStack, no_ecs_role: None, tmp_path: Path
) -> None:
    config = tmp_path / "admin.toml"
    config.write_text(dump_toml({"aws": aws_table(stack.admin_settings())}), encoding="utf-8")
    prefix = f"p{uuid.uuid4().hex[:8]}"
    name = f"{prefix}-stack"
    done = run_fpw(config, "infra", "deploy", "--stack-name", name, "--prefix", prefix)
    assert done.returncode != 0
    assert "missing          ECS service-linked role" in done.stdout
    assert "could not check  GPU quota" in done.stdout
    assert "not deploying: ECS service-linked role missing" in done.stderr
    cfn = Aws(stack.admin_settings(), "test-admin").client("cloudformation")
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=name)
    checked = run_fpw(config, "infra", "check", "--stack-name", name)
    assert checked.returncode == 1
    assert "ok               credentials" in checked.stdout
