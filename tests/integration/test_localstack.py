"""The local stack is the template deployed: its outputs name real resources."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest
import requests

from infra.local.stack import LocalStack
from shared.aws import Aws


def test_the_template_deploys_the_table_with_its_stream_indexes_and_ttl(stack: LocalStack) -> None:
    admin = Aws(stack.admin_settings(), "test-admin")
    table = admin.dynamodb.describe_table(TableName=stack.outputs["JobsTable"])["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"queue-index", "client-index", "sweep-index"}
    assert [k["AttributeName"] for k in indexes["queue-index"]["KeySchema"]] == ["queue", "rank"]
    # What desktops poll, not every write of a record (docs/scale.md).
    narrow = indexes["client-index"]["Projection"]
    assert narrow["ProjectionType"] == "INCLUDE"
    assert set(narrow["NonKeyAttributes"]) == {"status", "progress"}
    assert indexes["sweep-index"]["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert stack.outputs["JobsStreamArn"] == table["LatestStreamArn"]
    # moto's CloudFormation does not apply the bucket's public access block or
    # lifecycle rules; cfn-lint checks those parts of the template instead.
    admin.s3.head_bucket(Bucket=stack.outputs["Bucket"])


def test_every_part_assumes_its_own_role(stack: LocalStack) -> None:
    for role in ("client", "fetcher", "watcher"):
        aws = Aws(stack.role_settings(role), f"test-{role}")
        identity = aws.session.client("sts", endpoint_url=stack.endpoint).get_caller_identity()
        assert f":assumed-role/fpw-{role}/" in identity["Arn"]


def test_the_admin_api_refuses_whoever_lacks_the_stacks_token(stack: LocalStack) -> None:
    for path, body in (("reset-auth", b"1000"), ("reset", b""), ("data.json", b"")):
        answer = requests.post(f"{stack.endpoint}/moto-api/{path}", data=body, timeout=10)
        assert answer.status_code == 403, (path, answer.text[:200])
        wrong = requests.post(
            f"{stack.endpoint}/moto-api/{path}",
            data=body,
            headers={"X-Fpw-Stack-Token": "guess"},
            timeout=10,
        )
        assert wrong.status_code == 403, path
    assert requests.get(f"{stack.endpoint}/moto-api/data.json", timeout=10).status_code == 403
    # Enforcement is still on: a caller without a known key is refused.
    stranger = boto3.client(
        "iam",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id="AKIASTRANGER0000000",
        aws_secret_access_key="not-a-key",
    )
    with pytest.raises(botocore.exceptions.ClientError):
        stranger.list_users()
    # The owner, with the token, still can (0: no anonymous calls, as it already is).
    assert stack.admin_api("reset-auth", b"0") == 200
