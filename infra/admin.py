"""Client key administration: who may submit jobs.

Registrations live in the clients table, which none of the three roles can
write: only an administrator's identity (or the local stack's admin) can.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from shared.aws import Aws
from shared.config import AwsSettings
from shared.record import iso, utc_now


def register_client(settings: AwsSettings, client_id: str, name: str) -> None:
    """Admin: allow a client key to submit jobs (or re-allow a revoked one)."""
    aws = Aws(settings, "fpw-admin")
    aws.dynamodb.put_item(
        TableName=settings.clients_table,
        Item={
            "client": {"S": client_id},
            "name": {"S": name},
            "registered": {"S": iso(utc_now())},
        },
    )


def revoke_client(settings: AwsSettings, client_id: str) -> bool:
    """Admin: refuse further jobs from a key; False if it was never registered."""
    aws = Aws(settings, "fpw-admin")
    try:
        aws.dynamodb.update_item(
            TableName=settings.clients_table,
            Key={"client": {"S": client_id}},
            UpdateExpression="SET revoked = :now",
            ConditionExpression="attribute_exists(#c)",
            ExpressionAttributeNames={"#c": "client"},
            ExpressionAttributeValues={":now": {"S": iso(utc_now())}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
