"""The whole template, fleet included, deployed to the local stack: what it
creates, ``fpw infra deploy``/``destroy`` and site credentials.

Jobs run through this same deployment with each role's credentials in
tests/e2e (the session's stack is the full template, Fleet=ecs)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.admin import (
    SiteKey,
    add_site,
    remove_site,
    retire_site_keys,
    rotate_site,
    site_settings,
)
from infra.deploy import Deployer, failure_reasons, parse_parameters
from infra.local.stack import LocalStack
from shared.aws import Aws
from shared.config import AwsSettings
from shared.errors import ConfigError, FpwError
from tests.helpers import session_network


def _client(stack: LocalStack, service: str) -> Any:
    return Aws(stack.admin_settings(), "test-admin").session.client(
        service, endpoint_url=stack.endpoint
    )


def test_the_fleet_alarms_scaling_and_dashboard_are_deployed(stack: LocalStack) -> None:
    prefix = stack.outputs["Deployment"]
    alarms = {
        a["AlarmName"]: a for a in _client(stack, "cloudwatch").describe_alarms()["MetricAlarms"]
    }
    for name in ("queue-depth", "queue-age", "errors", "watcher-silent", "wake"):
        assert f"{prefix}-{name}" in alarms
    assert alarms[f"{prefix}-queue-depth"]["AlarmActions"] == [stack.outputs["AlertTopicArn"]]
    scaling = _client(stack, "application-autoscaling")
    targets = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    resource = f"service/{stack.outputs['ClusterName']}/{stack.outputs['FleetServiceName']}"
    assert [t["ResourceId"] for t in targets] == [resource]
    policies = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    assert {p["PolicyType"] for p in policies} == {"TargetTrackingScaling", "StepScaling"}
    ecs = _client(stack, "ecs")
    cluster = ecs.describe_clusters(clusters=[stack.outputs["ClusterName"]])["clusters"][0]
    assert f"{prefix}-gpu" in cluster["capacityProviders"]
    provider = ecs.describe_capacity_providers(capacityProviders=[f"{prefix}-gpu"])
    assert provider["capacityProviders"][0]["autoScalingGroupProvider"]["autoScalingGroupArn"]
    services = ecs.list_services(cluster=stack.outputs["ClusterName"])["serviceArns"]
    assert len(services) == 2
    assert _client(stack, "cloudwatch").get_dashboard(DashboardName=prefix)["DashboardBody"]


def test_parameters_are_key_value_pairs() -> None:
    assert parse_parameters(["Fleet=none", "AlertEmail="]) == {"Fleet": "none", "AlertEmail": ""}
    with pytest.raises(ConfigError):
        parse_parameters(["Fleet"])


def test_failure_reasons_name_the_failed_resources_only() -> None:
    events = [
        {"LogicalResourceId": "Stack", "ResourceStatus": "ROLLBACK_IN_PROGRESS"},
        {
            "LogicalResourceId": "Bucket",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "exists",
        },
        {"LogicalResourceId": "Table", "ResourceStatus": "CREATE_COMPLETE"},
    ]
    assert failure_reasons(events, 0) == ["Bucket: exists"]


def test_deploy_then_destroy_refuses_a_bucket_with_data_unless_forced(stack: LocalStack) -> None:
    lines: list[str] = []
    prefix = f"t{uuid.uuid4().hex[:8]}"
    deployer = Deployer(
        stack.admin_settings(), f"{prefix}-stack", printer=lines.append, poll_seconds=0.1
    )
    result = deployer.deploy({"Prefix": prefix, "Fleet": "none"})
    assert result.status == "CREATE_COMPLETE"
    assert result.outputs["JobsTable"] == f"{prefix}-jobs" and "ClusterName" not in result.outputs
    # Progress is shown as events arrive (moto reports the stack's own events only).
    assert any("CREATE_COMPLETE" in line and f"{prefix}-stack" in line for line in lines)
    again = deployer.deploy({})
    assert again.outputs["Bucket"] == result.outputs["Bucket"]
    deployer.aws.s3.put_object(Bucket=result.outputs["Bucket"], Key="client-x/file-y/0", Body=b"x")
    with pytest.raises(FpwError, match="still holds 1 objects"):
        deployer.destroy()
    deployer.aws.s3.delete_object(Bucket=result.outputs["Bucket"], Key="client-x/file-y/0")
    release = result.outputs["ReleaseBucket"]
    deployer.aws.s3.put_object(Bucket=release, Key="releases/metadata/root.json", Body=b"{}")
    with pytest.raises(FpwError, match="published desktop releases"):
        deployer.destroy()
    assert deployer.describe() is not None
    assert deployer.destroy(force=True).status == "DELETE_COMPLETE"
    assert deployer.describe() is None


def _site_settings(stack: LocalStack, key_id: str, secret: str, role: str | None) -> AwsSettings:
    """A desktop's settings as `fpw admin site add` hands them out, nothing of the admin's."""
    key = SiteKey("site", key_id, secret)
    settings = AwsSettings(**site_settings(stack.outputs, key, stack.endpoint)["aws"])
    settings.role_arn = role
    return settings


def test_a_site_key_can_only_assume_the_client_role_and_is_rotated(stack: LocalStack) -> None:
    admin = stack.admin_settings()
    policy, role = stack.outputs["ClientSitePolicyArn"], stack.outputs["ClientRoleArn"]
    site = f"lab-{uuid.uuid4().hex[:6]}"
    first = add_site(admin, "fpw", site, policy)
    as_client = Aws(
        _site_settings(stack, first.access_key_id, first.secret_access_key, role), "desktop"
    )
    file_id = f"file-site-{uuid.uuid4()}"
    as_client.dynamodb.put_item(
        TableName=stack.outputs["JobsTable"],
        Item={"file": {"S": file_id}, "status": {"S": "QUEUED"}},
        ConditionExpression="attribute_not_exists(#f)",
        ExpressionAttributeNames={"#f": "file"},
    )
    # Not a job any part could read: removed at once from the shared table.
    Aws(admin, "test-admin").dynamodb.delete_item(
        TableName=stack.outputs["JobsTable"], Key={"file": {"S": file_id}}
    )
    bare = Aws(_site_settings(stack, first.access_key_id, first.secret_access_key, None), "desktop")
    with pytest.raises(ClientError):
        bare.dynamodb.get_item(TableName=stack.outputs["JobsTable"], Key={"file": {"S": file_id}})
    with pytest.raises(ClientError):
        Aws(
            _site_settings(
                stack, first.access_key_id, first.secret_access_key, stack.outputs["WatcherRoleArn"]
            ),
            "desktop",
        )
    second = rotate_site(admin, "fpw", site)
    with pytest.raises(FpwError, match="two keys"):
        rotate_site(admin, "fpw", site)
    assert retire_site_keys(admin, "fpw", site) == [first.access_key_id]
    Aws(_site_settings(stack, second.access_key_id, second.secret_access_key, role), "desktop")
    remove_site(admin, "fpw", site, policy)
    with pytest.raises(ClientError):
        Aws(_site_settings(stack, second.access_key_id, second.secret_access_key, role), "desktop")


def test_destroy_removes_sites_and_a_second_deploy_names_the_kept_tables(
    stack: LocalStack,
) -> None:
    lines: list[str] = []
    prefix = f"r{uuid.uuid4().hex[:8]}"
    deployer = Deployer(
        stack.admin_settings(), f"{prefix}-stack", printer=lines.append, poll_seconds=0.1
    )
    outputs = deployer.deploy({"Prefix": prefix, "Fleet": "none"}).outputs
    site = add_site(deployer.settings, prefix, "lab", outputs["ClientSitePolicyArn"])
    iam = _client(stack, "iam")

    assert deployer.destroy().status == "DELETE_COMPLETE"
    users = {u["UserName"] for u in iam.list_users(PathPrefix="/fpw/sites/")["Users"]}
    assert site.user not in users
    assert f"removed site user {site.user} (its desktops lose access)" in lines
    assert any(f"kept table {prefix}-jobs" in line for line in lines)
    assert any(line.startswith(f"kept key {outputs['DataKeyArn']}") for line in lines)

    # The tables outlived the stack: a create under the same prefix is refused by name.
    dynamodb = _client(stack, "dynamodb")
    with pytest.raises(FpwError, match=f"tables {prefix}-jobs, {prefix}-clients were kept") as err:
        deployer.deploy({"Prefix": prefix, "Fleet": "none"})
    assert f"aws dynamodb delete-table --table-name {prefix}-jobs" in str(err.value.hint)
    for table in (f"{prefix}-jobs", f"{prefix}-clients"):
        dynamodb.delete_table(TableName=table)
        dynamodb.get_waiter("table_not_exists").wait(TableName=table)
    assert deployer.deploy({"Prefix": prefix, "Fleet": "none"}).status == "CREATE_COMPLETE"
    assert deployer.destroy().status == "DELETE_COMPLETE"
    for table in (f"{prefix}-jobs", f"{prefix}-clients"):
        dynamodb.delete_table(TableName=table)


def test_destroy_first_scales_the_fleet_to_zero(stack: LocalStack) -> None:
    """On the session's fleet (moto cannot delete a stack's VPC), put back afterwards."""
    lines: list[str] = []
    deployer = Deployer(stack.admin_settings(), "fpw-local", printer=lines.append)
    cluster, service = stack.outputs["ClusterName"], stack.outputs["FleetServiceName"]
    resource = f"service/{cluster}/{service}"
    scaling, ecs = _client(stack, "application-autoscaling"), _client(stack, "ecs")

    def target() -> dict[str, Any]:
        targets = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])[
            "ScalableTargets"
        ]
        return dict(targets[0])

    before = target()
    desired = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    try:
        deployer.scale_to_zero(stack.outputs)
        assert (target()["MinCapacity"], target()["MaxCapacity"]) == (0, 0)
        now = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        assert now["desiredCount"] == 0
        assert lines == [f"scaling {service} to zero tasks"]
    finally:
        scaling.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=resource,
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=before["MinCapacity"],
            MaxCapacity=before["MaxCapacity"],
        )
        ecs.update_service(cluster=cluster, service=service, desiredCount=desired["desiredCount"])


def _drop_tables(stack: LocalStack, prefix: str) -> None:
    dynamodb = _client(stack, "dynamodb")
    for table in (f"{prefix}-jobs", f"{prefix}-clients"):
        try:
            dynamodb.delete_table(TableName=table)
        except dynamodb.exceptions.ResourceNotFoundException:
            pass


def test_a_failed_first_create_leaves_nothing_that_blocks_the_retry(stack: LocalStack) -> None:
    """The client role's name is taken: the create fails after the tables and the
    key were made; they go with the roll-back (RetainExceptOnCreate), and after
    `fpw infra destroy` the same deploy succeeds once the cause is gone."""
    lines: list[str] = []
    prefix = f"f{uuid.uuid4().hex[:8]}"
    deployer = Deployer(
        stack.admin_settings(), f"{prefix}-stack", printer=lines.append, poll_seconds=0.1
    )
    iam = _client(stack, "iam")
    trust = '{"Version":"2012-10-17","Statement":[]}'
    iam.create_role(RoleName=f"{prefix}-client", AssumeRolePolicyDocument=trust)
    try:
        with pytest.raises(FpwError, match="ClientRole") as err:
            deployer.deploy({"Prefix": prefix, "Fleet": "none"})
        assert "ROLLBACK" in str(err.value) or "FAILED" in str(err.value)
        dynamodb = _client(stack, "dynamodb")
        tables = dynamodb.list_tables()["TableNames"]
        assert f"{prefix}-jobs" not in tables and f"{prefix}-clients" not in tables
        # A rolled-back stack cannot be updated: the deploy says what to do.
        with pytest.raises(FpwError, match="fpw infra destroy"):
            deployer.deploy({"Prefix": prefix, "Fleet": "none"})
        assert deployer.destroy().status == "DELETE_COMPLETE"
        assert not any(line.startswith("kept table") for line in lines)
    finally:
        iam.delete_role(RoleName=f"{prefix}-client")
    try:
        assert deployer.deploy({"Prefix": prefix, "Fleet": "none"}).status == "CREATE_COMPLETE"
        assert deployer.destroy().status == "DELETE_COMPLETE"
    finally:
        _drop_tables(stack, prefix)


def test_destroy_removes_sites_and_stops_the_fleet_before_the_stack(stack: LocalStack) -> None:
    """A fleet in the session's VPC (moto cannot delete a VPC a stack made, but
    an existing one is left alone), destroyed: sites first, then the tasks,
    then the stack."""
    lines: list[str] = []
    prefix = f"o{uuid.uuid4().hex[:8]}"
    deployer = Deployer(
        stack.admin_settings(), f"{prefix}-stack", printer=lines.append, poll_seconds=0.1
    )
    try:
        outputs = deployer.deploy(
            {"Prefix": prefix, "Fleet": "ecs", **session_network(stack)}
        ).outputs
        site = add_site(deployer.settings, prefix, "lab", outputs["ClientSitePolicyArn"])
        lines.clear()
        assert deployer.destroy().status == "DELETE_COMPLETE"
        order = [
            f"removed site user {site.user} (its desktops lose access)",
            f"scaling {outputs['FleetServiceName']} to zero tasks",
            f"deleting stack {prefix}-stack",
        ]
        assert [line for line in lines if line in order] == order
    finally:
        _drop_tables(stack, prefix)
