"""The local stack is the template deployed: its outputs name real resources."""

from __future__ import annotations

from infra.localstack import LocalStack
from shared.aws import Aws


def test_the_template_deploys_the_table_with_its_stream_indexes_and_ttl(stack: LocalStack) -> None:
    admin = Aws(stack.admin_settings(), "test-admin")
    table = admin.dynamodb.describe_table(TableName=stack.outputs["JobsTable"])["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"queue-index", "client-index"}
    assert [k["AttributeName"] for k in indexes["queue-index"]["KeySchema"]] == ["queue", "rank"]
    assert stack.outputs["JobsStreamArn"] == table["LatestStreamArn"]
    # moto's CloudFormation does not apply the bucket's public access block or
    # lifecycle rules; cfn-lint checks those parts of the template instead.
    admin.s3.head_bucket(Bucket=stack.outputs["Bucket"])


def test_every_part_assumes_its_own_role(stack: LocalStack) -> None:
    for role in ("client", "fetcher", "watcher"):
        aws = Aws(stack.role_settings(role), f"test-{role}")
        identity = aws.session.client("sts", endpoint_url=stack.endpoint).get_caller_identity()
        assert f":assumed-role/fpw-{role}/" in identity["Arn"]
