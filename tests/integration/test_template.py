"""The deployment files checked without AWS: the template's linters (cfn-lint,
checkov), the Dockerfiles' linter (hadolint) and the promises that the
linters cannot see (no way into a task, non-root images, pinned versions,
settings the parts know)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from client.staging import Staged
from shared.config import Settings
from shared.record import HOLDER, Job, new_file_id, to_item
from shared.signing import client_id, sign_job

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
DOCKERFILES = sorted((ROOT / "infra" / "docker").glob("*.Dockerfile"))
TOOLS = ROOT / ".ci" / "tools" / "bin"
METRICS = {
    "QueueDepth",
    "OldestQueuedAgeSeconds",
    "JobsInFlight",
    "CompletedPerMinute",
    "ErrorsPerMinute",
}


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as their long forms."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), _CfnLoader)
    return loaded


def _tool(name: str) -> str:
    """A linter from .ci/tools (made by .ci/lint-tools) or PATH; CI must have it."""
    for candidate in (TOOLS / name, Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed: run .ci/lint-tools")
    pytest.skip(f"{name} is not installed (bash .ci/lint-tools installs it)")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=240)


def test_cfn_lint_finds_nothing_in_the_template() -> None:
    result = _run(_tool("cfn-lint"), str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_nothing_in_the_template() -> None:
    # --skip-download: no network for policy metadata; the checks ship in the package.
    result = _run(
        _tool("checkov"),
        *("-f", str(TEMPLATE), "--framework", "cloudformation"),
        *("--quiet", "--compact", "--skip-download"),
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[d.stem for d in DOCKERFILES])
def test_hadolint_finds_nothing_in_the_dockerfile(dockerfile: Path) -> None:
    result = _run(_tool("hadolint"), str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[d.stem for d in DOCKERFILES])
def test_every_image_runs_as_a_non_root_user_with_a_health_check_on_pinned_bases(
    dockerfile: Path,
) -> None:
    text = dockerfile.read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "last USER must not be root"
    assert re.search(r"^HEALTHCHECK\s+.*CMD", text, re.MULTILINE | re.DOTALL)
    # A base given as a build argument is pinned by the argument's default.
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.MULTILINE))
    for given in re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE):
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], given)
        if image.startswith("base-"):
            continue  # a stage of this file
        name, _, tag = image.partition(":")
        assert "@sha256:" in image or re.search(r"\d", tag), f"{image} is not pinned"
        assert tag != "latest"
    assert "--no-cache-dir" in text and re.search(r"-c /src/\S+\.lock", text)


def test_the_lock_files_pin_every_dependency_exactly() -> None:
    for lock in (ROOT / "infra" / "docker").glob("*.lock"):
        lines = [
            line
            for line in lock.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")
        ]
        assert lines, lock
        assert all(re.fullmatch(r"[a-z0-9._-]+==[\w.+-]+", line) for line in lines), lock


def test_nothing_outside_a_task_can_reach_its_processor(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    task = resources["FleetTaskDefinition"]["Properties"]
    assert task["NetworkMode"] == "awsvpc"  # containers of a task share localhost
    containers = {c["Name"]: c for c in task["ContainerDefinitions"]}
    assert "PortMappings" not in containers["processor"]
    fetcher_env = {e["Name"]: e["Value"] for e in containers["fetcher"]["Environment"]}
    assert fetcher_env["FPW_FETCHER_PROCESSOR_URL"].startswith("http://127.0.0.1:")
    for name, resource in resources.items():
        assert resource["Type"] not in (
            "AWS::EC2::SecurityGroupIngress",
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
        ), name
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            assert "SecurityGroupIngress" not in resource["Properties"], name
        if resource["Type"] == "AWS::ECS::Service":
            network = resource["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
            assert network["AssignPublicIp"] == "DISABLED", name


def test_the_containers_set_only_settings_that_the_parts_know(template: dict[str, Any]) -> None:
    known = {
        f"FPW_{group.upper()}_{name.upper()}"
        for group, values in vars(Settings()).items()
        for name in vars(values)
    }
    # The analysis container is configured apart (it is replaceable): the
    # variables its source reads.
    processor = Path(__file__).resolve().parents[2] / "processor"
    known |= {
        match
        for source in processor.glob("*.py")
        for match in re.findall(r"FPW_PROCESSOR_[A-Z_]+", source.read_text(encoding="utf-8"))
    }
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::ECS::TaskDefinition":
            continue
        for container in resource["Properties"]["ContainerDefinitions"]:
            for variable in container.get("Environment", []):
                assert variable["Name"] in known, f"{name}/{container['Name']}"


def test_alarms_and_scaling_read_the_watchers_metrics(template: dict[str, Any]) -> None:
    used: set[str] = set()
    for resource in template["Resources"].values():
        text = repr(resource)
        if resource["Type"] != "AWS::IAM::Role" and "'FPW'" in text:
            used |= {m for m in METRICS if f"'{m}'" in text}
            assert "'Deployment'" in text
    assert used >= {"QueueDepth", "OldestQueuedAgeSeconds", "JobsInFlight", "ErrorsPerMinute"}
    dashboard = repr(template["Resources"]["Dashboard"])
    assert all(m in dashboard for m in METRICS)


def test_the_watcher_may_put_metrics_only_in_its_namespace(template: dict[str, Any]) -> None:
    policy = template["Resources"]["WatcherRole"]["Properties"]["Policies"][0]
    metrics = next(s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "Metrics")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "FPW"}}


def _client_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    policy = template["Resources"]["ClientRole"]["Properties"]["Policies"][0]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_the_client_may_put_only_the_attributes_of_a_new_job(template: dict[str, Any]) -> None:
    """moto does not evaluate IAM conditions, so the rule that keeps a site key from
    writing results is checked here, against what the desktop really writes."""
    key = ec.generate_private_key(ec.SECP256R1())
    staged = Staged(
        size=1, sha256="ab" * 32, chunk_sha256=["cd" * 32], compression="zstd", content_type="x/y"
    )
    job = staged.job(new_file_id(), client_id(key.public_key()), "fpw-data", 4, 0, {"a": 1})
    job.expires = 1
    sign_job(job, key)
    written = set(to_item(job))  # exactly what the client's create puts

    statements = _client_statements(template)
    puts = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    assert len(puts) == 1 and _actions(puts[0]) == ["dynamodb:PutItem"], puts
    allowed = puts[0]["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert set(allowed) == written
    assert puts[0]["Condition"]["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["file-*"]}
    # What only the fleet and the watcher write is never the client's to put.
    fleet_only = {
        "results",
        "result_signature",
        "fleet_key",
        "processor",
        "assigned",
        "downloaded",
        "processed",
        "heartbeat",
        "progress",
        "error",
        "last_error",
        "delivered",
        "expired",
    }
    assert fleet_only <= set(Job.__dataclass_fields__) | {"results", HOLDER}
    assert not fleet_only & set(allowed)
    # ... nor can it change a record in place or remove one.
    granted = {action for s in statements for action in _actions(s)}
    assert not granted & {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert not any(a in ("dynamodb:*", "*") for a in granted)


def test_the_default_gpu_ami_carries_a_driver_for_cuda_13(template: dict[str, Any]) -> None:
    # AL2023 ECS GPU AMIs ship NVIDIA driver 580 (the AL2 family ships 535).
    ami = template["Parameters"]["GpuAmi"]["Default"]
    assert ami == "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
    processor = _container(template, "FleetTaskDefinition", "processor")
    device = {e["Name"]: e["Value"] for e in processor["Environment"]}["FPW_PROCESSOR_OCR_DEVICE"]
    assert device == {"Fn::If": ["UseGpu", "cuda", "auto"]}


def test_waking_from_zero_sets_one_task_however_often_the_alarm_fires(
    template: dict[str, Any],
) -> None:
    wake = template["Resources"]["WakeScalingPolicy"]["Properties"]
    config = wake["StepScalingPolicyConfiguration"]
    assert config["AdjustmentType"] == "ExactCapacity"
    assert [s["ScalingAdjustment"] for s in config["StepAdjustments"]] == [1]


def test_the_fleet_spans_two_zones_of_a_new_vpc_or_the_given_subnets(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    subnets = resources["FleetService"]["Properties"]["NetworkConfiguration"][
        "AwsvpcConfiguration"
    ]["Subnets"]
    assert subnets == {
        "Fn::If": [
            "NewVpc",
            [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
            {"Ref": "SubnetIds"},
        ]
    }
    zones = {
        str(resources[s["Ref"]]["Properties"]["AvailabilityZone"]) for s in subnets["Fn::If"][1]
    }
    assert len(zones) == 2
    assert resources["GpuAutoScalingGroup"]["Properties"]["VPCZoneIdentifier"] == subnets
    assert (
        resources["WatcherService"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"][
            "Subnets"
        ]
        == subnets
    )
    # An existing VPC: nothing of the network is created (no NAT gateway to pay for).
    assert template["Conditions"]["NewVpc"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "Fleet"}, "ecs"]},
            {"Fn::Equals": [{"Ref": "VpcId"}, ""]},
        ]
    }
    for name in ("Vpc", "NatGateway", "NatAddress", "PrivateSubnetA", "S3Endpoint"):
        assert resources[name]["Condition"] == "NewVpc", name
    group = resources["TaskSecurityGroup"]["Properties"]["VpcId"]
    assert group == {"Fn::If": ["NewVpc", {"Ref": "Vpc"}, {"Ref": "VpcId"}]}


def test_spot_capacity_is_an_option(template: dict[str, Any]) -> None:
    assert template["Parameters"]["GpuSpot"]["Default"] == "false"
    data = template["Resources"]["GpuLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["InstanceMarketOptions"] == {
        "Fn::If": ["UseSpot", {"MarketType": "spot"}, {"Ref": "AWS::NoValue"}]
    }


def _container(template: dict[str, Any], task: str, name: str) -> dict[str, Any]:
    containers = template["Resources"][task]["Properties"]["ContainerDefinitions"]
    found: dict[str, Any] = next(c for c in containers if c["Name"] == name)
    return found


def test_the_deployed_body_is_the_template_under_the_inline_limit(
    template: dict[str, Any],
) -> None:
    from infra.deploy import INLINE_LIMIT, template_body

    body = template_body(TEMPLATE)
    assert len(body.encode("utf-8")) <= INLINE_LIMIT
    assert yaml.load(body, _CfnLoader) == template
    user_data = template["Resources"]["GpuLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert user_data["UserData"]["Fn::Base64"]["Fn::Sub"].startswith("#!/bin/bash\n")


def test_a_replacement_processor_sets_its_own_command_and_health_check(
    template: dict[str, Any],
) -> None:
    processor = _container(template, "FleetTaskDefinition", "processor")
    assert processor["Command"] == {"Ref": "ProcessorCommand"}
    assert processor["HealthCheck"]["Command"] == {"Ref": "ProcessorHealthCheck"}
    params = template["Parameters"]
    assert params["ProcessorCommand"]["Type"] == "CommaDelimitedList"
    assert params["ProcessorCommand"]["Default"] == "processor,--host,0.0.0.0,--port,8080"
    check = params["ProcessorHealthCheck"]["Default"].split(",")
    assert check[0] == "CMD" and check[-1] == "http://127.0.0.1:8080/health"


def test_the_fetcher_may_protect_only_the_tasks_of_its_cluster(template: dict[str, Any]) -> None:
    statements = [
        s
        for policy in template["Resources"]["FetcherRole"]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if any(a.startswith("ecs:") for a in _actions(s))
    ]
    assert [_actions(s) for s in statements] == [["ecs:UpdateTaskProtection"]]
    assert statements[0]["Resource"]["Fn::Sub"].endswith(":task/${Prefix}/*")


def test_the_fetchers_stop_timeout_covers_its_grace_and_the_agents_matches(
    template: dict[str, Any],
) -> None:
    """A stopped task's fetcher finishes or gives back its job within its grace:
    ECS must wait longer than that before it kills the container, on the task
    and in the agent (whose value applies to the processor). The analysis itself
    (processor_timeout_seconds) may run longer than any stop allows, which is
    why a busy task is protected from scale-in instead."""
    fetcher = _container(template, "FleetTaskDefinition", "fetcher")
    stop = fetcher["StopTimeout"]
    settings = Settings().fetcher
    assert settings.shutdown_grace_seconds + 30 <= stop <= 120  # 120: ECS's most
    user_data = template["Resources"]["GpuLaunchTemplate"]["Properties"]["LaunchTemplateData"][
        "UserData"
    ]["Fn::Base64"]["Fn::Sub"]
    assert f"ECS_CONTAINER_STOP_TIMEOUT={stop}s" in user_data
    # The processor stops after the fetcher (which depends on it) and never
    # before it: no stop timeout of its own shorter than the fetcher's.
    processor = _container(template, "FleetTaskDefinition", "processor")
    assert processor.get("StopTimeout", stop) >= stop
    assert fetcher["DependsOn"] == [{"ContainerName": "processor", "Condition": "HEALTHY"}]
    # Scale-in protection outlasts the longest job: waiting for chunks plus the
    # whole analysis deadline, each call of which is bounded by the processor timeout.
    assert settings.processor_timeout_seconds <= settings.analysis_deadline_seconds


def test_scale_in_spares_busy_tasks_and_their_instances(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    group = resources["GpuAutoScalingGroup"]["Properties"]
    assert group["NewInstancesProtectedFromScaleIn"] is True
    provider = resources["GpuCapacityProvider"]["Properties"]["AutoScalingGroupProvider"]
    assert provider["ManagedTerminationProtection"] == "ENABLED"
    assert provider["ManagedScaling"]["Status"] == "ENABLED"
    # Slow to scale in: a new GPU instance takes minutes to join.
    backlog = resources["BacklogScalingPolicy"]["Properties"]
    assert backlog["TargetTrackingScalingPolicyConfiguration"]["ScaleInCooldown"] >= 300
    # And the fetcher may protect its own task (the policy test above).
    fetcher_env = {
        e["Name"] for e in _container(template, "FleetTaskDefinition", "fetcher")["Environment"]
    }
    assert "ECS_AGENT_URI" not in fetcher_env  # set by the agent itself, never overridden


def test_tables_and_key_are_kept_except_after_a_failed_create(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for name in ("DataKey", "JobsTable", "ClientsTable"):
        assert resources[name]["DeletionPolicy"] == "RetainExceptOnCreate", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name
    # Nothing else is retained: a destroyed stack leaves no bucket or role to block a redeploy.
    others = {
        n for n, r in resources.items() if "DeletionPolicy" in r and r["DeletionPolicy"] != "Delete"
    }
    assert others == {"DataKey", "JobsTable", "ClientsTable"}
