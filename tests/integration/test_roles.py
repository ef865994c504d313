"""Each role may do its job and nothing else: real requests against the local
stack, where the template's policies are enforced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.localstack import LocalStack
from shared.aws import Aws


def denied(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status == 403 or error.get("Code") in (
            "AccessDenied",
            "AccessDeniedException",
            "403",
        )
    return False


@pytest.fixture(scope="module")
def roles(stack: LocalStack) -> dict[str, Aws]:
    return {
        name: Aws(stack.role_settings(name), f"test-{name}")
        for name in ("client", "fetcher", "watcher")
    }


@pytest.fixture(scope="module")
def names(stack: LocalStack) -> dict[str, str]:
    return {
        "table": stack.outputs["JobsTable"],
        "bucket": stack.outputs["Bucket"],
        "clients": stack.outputs["ClientsTable"],
    }


def put_job(aws: Aws, table: str, file_id: str) -> None:
    aws.dynamodb.put_item(
        TableName=table,
        Item={"file": {"S": file_id}, "status": {"S": "QUEUED"}},
        ConditionExpression="attribute_not_exists(#f)",
        ExpressionAttributeNames={"#f": "file"},
    )


def test_the_client_creates_jobs_and_uploads_chunks_but_cannot_change_or_read_them(
    roles: dict[str, Aws], names: dict[str, str]
) -> None:
    client = roles["client"]
    put_job(client, names["table"], "file-role-client")
    key = "client-04aa/file-role-client/0"
    client.s3.put_object(Bucket=names["bucket"], Key=key, Body=b"chunk")
    assert denied(lambda: client.s3.get_object(Bucket=names["bucket"], Key=key))
    assert denied(
        lambda: client.dynamodb.update_item(
            TableName=names["table"],
            Key={"file": {"S": "file-role-client"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
        )
    )
    assert denied(
        lambda: client.dynamodb.delete_item(
            TableName=names["table"], Key={"file": {"S": "file-role-client"}}
        )
    )
    assert denied(lambda: client.dynamodb.scan(TableName=names["table"]))
    assert denied(lambda: client.s3.list_objects_v2(Bucket=names["bucket"]))
    assert denied(lambda: client.s3.put_object(Bucket=names["bucket"], Key="results/x", Body=b"x"))
    assert denied(
        lambda: client.dynamodb.put_item(
            TableName=names["clients"], Item={"client": {"S": "client-04bb"}}
        )
    )


def test_the_fetcher_updates_jobs_and_reads_chunks_but_cannot_create_or_delete_jobs(
    roles: dict[str, Aws], names: dict[str, str]
) -> None:
    fetcher = roles["fetcher"]
    put_job(roles["client"], names["table"], "file-role-fetcher")
    fetcher.dynamodb.update_item(
        TableName=names["table"],
        Key={"file": {"S": "file-role-fetcher"}},
        UpdateExpression="SET heartbeat = :h",
        ExpressionAttributeValues={":h": {"S": "now"}},
    )
    assert denied(
        lambda: fetcher.dynamodb.delete_item(
            TableName=names["table"], Key={"file": {"S": "file-role-fetcher"}}
        )
    )
    assert denied(lambda: put_job(fetcher, names["table"], "file-role-fetcher-2"))
    assert denied(lambda: fetcher.dynamodb.scan(TableName=names["table"]))
    assert denied(lambda: fetcher.s3.delete_object(Bucket=names["bucket"], Key="results/x"))
    # A chunk not uploaded yet reads as missing (404), not forbidden, so a fetcher can wait for it.
    with pytest.raises(ClientError) as missing:
        fetcher.s3.get_object(Bucket=names["bucket"], Key="client-04aa/file-none/0")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_the_watcher_sweeps_and_deletes_data_but_cannot_create_or_delete_jobs(
    roles: dict[str, Aws], names: dict[str, str]
) -> None:
    watcher = roles["watcher"]
    watcher.dynamodb.scan(TableName=names["table"], Limit=1)
    watcher.s3.list_objects_v2(Bucket=names["bucket"], MaxKeys=1)
    assert denied(lambda: put_job(watcher, names["table"], "file-role-watcher"))
    assert denied(
        lambda: watcher.dynamodb.delete_item(
            TableName=names["table"], Key={"file": {"S": "file-role-client"}}
        )
    )
    assert denied(
        lambda: watcher.s3.get_object(Bucket=names["bucket"], Key="client-04aa/file-role-client/0")
    )


def test_an_unknown_access_key_is_refused(stack: LocalStack, names: dict[str, str]) -> None:
    settings = stack.admin_settings()
    settings.access_key_id = "AKIAUNKNOWNUNKNOWN00"
    stranger = Aws(settings, "stranger")
    with pytest.raises(ClientError):
        stranger.dynamodb.get_item(TableName=names["table"], Key={"file": {"S": "file-x"}})


def test_the_client_writes_receipts_that_only_the_watcher_reads_and_deletes(
    roles: dict[str, Aws], names: dict[str, str]
) -> None:
    client, watcher, fetcher = roles["client"], roles["watcher"], roles["fetcher"]
    key = "receipts/client-04aa/file-role-receipt"
    client.s3.put_object(Bucket=names["bucket"], Key=key, Body=b"{}", IfNoneMatch="*")
    assert denied(lambda: client.s3.get_object(Bucket=names["bucket"], Key=key))
    assert denied(lambda: client.s3.delete_object(Bucket=names["bucket"], Key=key))
    assert denied(lambda: client.s3.list_objects_v2(Bucket=names["bucket"], Prefix="receipts/"))
    assert denied(lambda: fetcher.s3.get_object(Bucket=names["bucket"], Key=key))
    listed = watcher.s3.list_objects_v2(Bucket=names["bucket"], Prefix="receipts/")
    assert key in [o["Key"] for o in listed.get("Contents", [])]
    assert watcher.s3.get_object(Bucket=names["bucket"], Key=key)["Body"].read() == b"{}"
    watcher.s3.delete_object(Bucket=names["bucket"], Key=key)


def test_the_watcher_publishes_metrics_and_alerts_and_the_others_cannot(
    stack: LocalStack, roles: dict[str, Aws]
) -> None:
    metric = [{"MetricName": "QueueDepth", "Value": 0.0, "Unit": "Count"}]
    topic = stack.outputs["AlertTopicArn"]
    watcher = roles["watcher"].session
    watcher.client("cloudwatch", endpoint_url=stack.endpoint).put_metric_data(
        Namespace="FPW", MetricData=metric
    )
    watcher.client("sns", endpoint_url=stack.endpoint).publish(TopicArn=topic, Message="test")
    for name in ("client", "fetcher"):
        other = roles[name].session
        cloudwatch: Any = other.client("cloudwatch", endpoint_url=stack.endpoint)
        sns: Any = other.client("sns", endpoint_url=stack.endpoint)
        assert denied(lambda c=cloudwatch: c.put_metric_data(Namespace="FPW", MetricData=metric))
        assert denied(lambda s=sns: s.publish(TopicArn=topic, Message="test"))
