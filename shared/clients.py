"""The clients table: which client keys may submit jobs.

The fetcher reads it at every claim and the admin commands write it; both go
through ``Clients``, the one place that knows its schema. None of the three
roles may write it: only an administrator's identity (or the local stack's
admin) can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.aws import convert, error_code
from shared.table import REFUSED, pages

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class Registration:
    """One row of the clients table."""

    client: str
    label: str
    registered: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None


class Clients:
    """The registry of client keys (the clients table)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def get(self, client: str) -> Registration | None:
        """One key's registration, read consistently: a revocation counts at once."""
        try:
            answer = self.dynamodb.get_item(
                TableName=self.table, Key={"client": {"S": client}}, ConsistentRead=True
            )
        except ClientError as exc:
            raise convert(exc, "DynamoDB") from exc
        item = answer.get("Item")
        return registration(item) if item is not None else None

    def register(self, client: str, label: str, when: str) -> None:
        """Allow a key to submit jobs (or allow a revoked one again)."""
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={"client": {"S": client}, "label": {"S": label}, "registered": {"S": when}},
            )
        except ClientError as exc:
            raise convert(exc, "DynamoDB") from exc

    def revoke(self, client: str, when: str) -> bool:
        """Mark a key revoked (its first revocation time stays); False if it is not registered."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"client": {"S": client}},
                UpdateExpression="SET revoked = if_not_exists(revoked, :now)",
                ConditionExpression="attribute_exists(#c)",
                ExpressionAttributeNames={"#c": "client"},
                ExpressionAttributeValues={":now": {"S": when}},
            )
        except ClientError as exc:
            if error_code(exc) == REFUSED:
                return False
            raise convert(exc, "DynamoDB") from exc
        return True

    def remove(self, client: str) -> None:
        """Delete a key from the registry (a throwaway one: a real key is revoked, so that
        its record of when it stopped counting stays)."""
        try:
            self.dynamodb.delete_item(TableName=self.table, Key={"client": {"S": client}})
        except ClientError as exc:
            raise convert(exc, "DynamoDB") from exc

    def all(self) -> list[Registration]:
        """Every registered key, newest registration first."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        rows = [registration(item) for item in pages(self.dynamodb.scan, kwargs)]
        return sorted(rows, key=lambda r: r.registered, reverse=True)


def registration(item: dict[str, Any]) -> Registration:
    """A clients-table item as a row."""

    def text(key: str) -> str | None:
        value = item.get(key, {}).get("S")
        return str(value) if value is not None else None

    return Registration(
        client=text("client") or "?",
        label=text("label") or "",
        registered=text("registered") or "",
        revoked=text("revoked"),
    )
