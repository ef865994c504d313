"""What ``fpw infra deploy`` checks before it calls CloudFormation.

A first deploy into a new account fails late (the NAT gateway is up, ten
minutes in) on things an API can tell in a second: no credentials, a region
that does not exist, the ECS service-linked role missing, a GPU quota of 0.
Each check says in one line what it found or what to do. Where an API does
not answer (no permission, or a service the local stack lacks) the check says
it could not check, which never stops a deploy: only a known blocker does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.aws import Aws, error_code, error_message
from shared.config import AwsSettings

ECS_ROLE_PATH = "/aws-service-role/ecs.amazonaws.com/"
"""Path of the service-linked role ECS needs for capacity providers and services
(AWSServiceRoleForECS; found by path, which moto's IAM gives it too)."""


@dataclass(frozen=True)
class GpuQuota:
    """An EC2 quota (in vCPUs) that bounds a family of GPU instances."""

    code: str
    name: str


# Service Quotas codes of the EC2 vCPU quotas of the GPU families, by
# (family letters, spot).
GPU_QUOTAS: dict[tuple[str, bool], GpuQuota] = {
    ("g", False): GpuQuota("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("g", True): GpuQuota("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("p", False): GpuQuota("L-417A185B", "Running On-Demand P instances"),
    ("p", True): GpuQuota("L-7212CCBC", "All P Spot Instance Requests"),
}


class Verdict(enum.Enum):
    OK = "ok"
    FAILED = "missing"
    UNKNOWN = "could not check"


@dataclass(frozen=True)
class Prerequisite:
    """One prerequisite: what was found, or what to do about it."""

    name: str
    outcome: Verdict
    detail: str

    def line(self) -> str:
        return f"{self.outcome.value:<16} {self.name}: {self.detail}"


def _error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return f"{error_code(exc)}: {error_message(exc)}".rstrip(": ")
    return str(exc)


def gpu_quota(instance_type: str, spot: bool) -> GpuQuota | None:
    """The quota that bounds ``instance_type`` (g4dn.xlarge: the G and VT one), if known."""
    family = instance_type.split(".", 1)[0]
    letter = "g" if family.startswith(("g", "vt")) else family[:1]
    return GPU_QUOTAS.get((letter, spot))


def check_credentials(aws: Aws) -> tuple[Prerequisite, str | None]:
    """Who the deploy runs as, and its account; no account when nobody."""
    try:
        me = aws.client("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        return (
            Prerequisite(
                "credentials",
                Verdict.FAILED,
                f"STS refused them ({_error(exc)}): run `aws configure` (or `aws sso login`) "
                "and check with `aws sts get-caller-identity`",
            ),
            None,
        )
    account = str(me.get("Account", ""))
    return Prerequisite("credentials", Verdict.OK, f"{me.get('Arn')} (account {account})"), account


def check_region(settings: AwsSettings) -> Prerequisite:
    region = settings.region
    if settings.endpoint_url:
        return Prerequisite("region", Verdict.OK, f"{region} (at {settings.endpoint_url})")
    if region not in boto3.session.Session().get_available_regions("ecs"):
        return Prerequisite(
            "region",
            Verdict.FAILED,
            f"{region!r} is not a region that runs ECS: `aws configure set region REGION` "
            "or FPW_AWS_REGION",
        )
    return Prerequisite("region", Verdict.OK, region)


def check_ecs_role(aws: Aws) -> Prerequisite:
    """Found by its path, which AWS gives every service-linked role of ECS."""
    name = "ECS service-linked role"
    try:
        roles = aws.client("iam").list_roles(PathPrefix=ECS_ROLE_PATH).get("Roles", [])
    except (ClientError, BotoCoreError) as exc:
        return Prerequisite(
            name, Verdict.UNKNOWN, f"{_error(exc)}; without it ECS cannot run the fleet"
        )
    if not roles:
        return Prerequisite(
            name,
            Verdict.FAILED,
            "this account has none: `aws iam create-service-linked-role "
            "--aws-service-name ecs.amazonaws.com`",
        )
    return Prerequisite(name, Verdict.OK, str(roles[0]["RoleName"]))


def _vcpus(aws: Aws, instance_type: str) -> int | Prerequisite:
    try:
        found = aws.client("ec2").describe_instance_types(InstanceTypes=[instance_type])
    except (ClientError, BotoCoreError) as exc:
        if isinstance(exc, ClientError) and "InvalidInstanceType" in _error(exc):
            return Prerequisite(
                "GPU quota",
                Verdict.FAILED,
                f"{instance_type} is not an instance type of this region: "
                "set --param GpuInstanceType",
            )
        return Prerequisite(
            "GPU quota", Verdict.UNKNOWN, f"vCPUs of {instance_type}: {_error(exc)}"
        )
    types: list[Any] = found.get("InstanceTypes", [])
    if not types:
        return Prerequisite("GPU quota", Verdict.UNKNOWN, f"EC2 does not describe {instance_type}")
    return int(types[0]["VCpuInfo"]["DefaultVCpus"])


def check_gpu_quota(aws: Aws, instance_type: str, instances: int, spot: bool) -> Prerequisite:
    """The account's vCPU quota of the family against MaxInstances of the type."""
    quota = gpu_quota(instance_type, spot)
    if quota is None:
        return Prerequisite(
            "GPU quota", Verdict.UNKNOWN, f"no EC2 quota of GPU instances known for {instance_type}"
        )
    vcpus = _vcpus(aws, instance_type)
    if isinstance(vcpus, Prerequisite):
        return vcpus
    need = instances * vcpus
    try:
        answer = aws.client("service-quotas").get_service_quota(
            ServiceCode="ec2", QuotaCode=quota.code
        )
    except (ClientError, BotoCoreError) as exc:
        return Prerequisite(
            "GPU quota",
            Verdict.UNKNOWN,
            f"Service Quotas did not answer ({_error(exc)}); {quota.name} must be at least "
            f"{need} vCPUs, else {_ask(quota, need)}",
        )
    return quota_verdict(quota, float(answer["Quota"]["Value"]), instance_type, instances, vcpus)


def quota_verdict(
    quota: GpuQuota, value: float, instance_type: str, instances: int, vcpus: int
) -> Prerequisite:
    """The quota Service Quotas gave against what MaxInstances of the type need."""
    need = instances * vcpus
    sizing = f"MaxInstances={instances} x {instance_type} ({vcpus} vCPUs)"
    if value < need:
        return Prerequisite(
            "GPU quota",
            Verdict.FAILED,
            f"{quota.name} is {value:g} vCPUs, {sizing} needs {need}: {_ask(quota, need)}",
        )
    return Prerequisite(
        "GPU quota", Verdict.OK, f"{quota.name} {value:g} vCPUs >= {need} ({sizing})"
    )


def _ask(quota: GpuQuota, need: int) -> str:
    return (
        f"`aws service-quotas request-service-quota-increase --service-code ec2 "
        f"--quota-code {quota.code} --desired-value {need}` (can take a day)"
    )


def preflight(settings: AwsSettings, parameters: Mapping[str, str]) -> list[Prerequisite]:
    """Every check that applies to a deploy with these (effective) parameters."""
    try:
        aws = Aws(settings, "fpw-deploy")
    except (ClientError, BotoCoreError) as exc:
        return [Prerequisite("credentials", Verdict.FAILED, f"{_error(exc)}: run `aws configure`")]
    credentials, account = check_credentials(aws)
    checks = [credentials, check_region(settings)]
    if account is None:
        return checks
    if parameters.get("Fleet", "ecs") == "ecs":
        checks.append(check_ecs_role(aws))
        try:
            instances = int(parameters.get("MaxInstances", "4"))
        except ValueError:
            instances = 4
        checks.append(
            check_gpu_quota(
                aws,
                parameters.get("GpuInstanceType", "g4dn.xlarge"),
                instances,
                parameters.get("GpuSpot", "false") == "true",
            )
        )
    return checks
