"""The jobs table: the one place that runs the state machine's updates.

A failed condition becomes ``ClaimLost`` carrying the item that won
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so callers can log who
holds the job now without a second read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared import transitions
from shared.errors import ClaimLost, FpwError, IntegrityError, RecordTooLarge, TransientError
from shared.record import Job, Status, from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

Malformed = Callable[[dict[str, Any], IntegrityError], None]
"""Told of a job record that does not parse: the raw item and why."""

QUEUE_INDEX = "queue-index"
CLIENT_INDEX = "client-index"


def _is(exc: ClientError, *codes: str) -> bool:
    return exc.response.get("Error", {}).get("Code") in codes


THROTTLED = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
)


class JobTable:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def create(self, job: Job) -> None:
        """Put a new job; a second put of the same id fails instead of overwriting."""
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item=to_item(job),
                ConditionExpression="attribute_not_exists(#file)",
                ExpressionAttributeNames={"#file": "file"},
            )
        except ClientError as exc:
            if _is(exc, "ConditionalCheckFailedException"):
                raise ClaimLost("a job with this id already exists", job=job.file) from exc
            raise _convert(exc, job.file) from exc

    def get(self, file_id: str, consistent: bool = True) -> Job | None:
        try:
            answer = self.dynamodb.get_item(
                TableName=self.table, Key={"file": {"S": file_id}}, ConsistentRead=consistent
            )
        except ClientError as exc:
            raise _convert(exc, file_id) from exc
        item = answer.get("Item")
        return from_item(item) if item else None

    def apply(self, file_id: str, update: transitions.Update) -> Job:
        """Run one transition; returns the job as it is afterwards."""
        try:
            return from_item(self.apply_raw(file_id, update))
        except ClaimLost as exc:
            raw = exc.current
            exc.current = from_item(raw) if isinstance(raw, dict) and raw else None
            raise

    def apply_raw(self, key: str, update: transitions.Update) -> dict[str, Any]:
        """One conditional update of any item (jobs, leases); returns the raw item after it.

        A failed condition raises ``ClaimLost`` carrying the raw item that won.
        """
        try:
            answer = self.dynamodb.update_item(
                TableName=self.table,
                Key={"file": {"S": key}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **update.kwargs(),
            )
        except ClientError as exc:
            if _is(exc, "ConditionalCheckFailedException"):
                old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
                raise ClaimLost("the item changed hands or state", job=key, current=old) from exc
            raise _convert(exc, key) from exc
        return dict(answer["Attributes"])

    def queued(self, shard: str, limit: int = 25) -> list[dict[str, Any]]:
        """First queued jobs of one index shard in rank order (projected fields only)."""
        try:
            answer = self.dynamodb.query(
                TableName=self.table,
                IndexName=QUEUE_INDEX,
                KeyConditionExpression="#queue = :shard",
                ExpressionAttributeNames={"#queue": "queue"},
                ExpressionAttributeValues={":shard": {"S": shard}},
                Limit=limit,
                ScanIndexForward=True,
            )
        except ClientError as exc:
            raise _convert(exc, None) from exc
        return [
            {k: next(iter(v.values())) for k, v in item.items()} for item in answer.get("Items", [])
        ]

    def of_client(self, client: str, on_malformed: Malformed | None = None) -> Iterator[Job]:
        """Every job of one client key, oldest first (the client index projects all fields)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": CLIENT_INDEX,
            "KeyConditionExpression": "#client = :client",
            "ExpressionAttributeNames": {"#client": "client"},
            "ExpressionAttributeValues": {":client": {"S": client}},
        }
        yield from self._pages("query", kwargs, on_malformed or skip_malformed)

    def scan(
        self, statuses: tuple[Status, ...] | None = None, on_malformed: Malformed | None = None
    ) -> Iterator[Job]:
        """Every job (the watcher's sweep), optionally only some statuses.

        A record that does not parse is handed to ``on_malformed`` (by default
        logged and skipped) instead of ending the scan: one bad record must not
        hide every other job from the sweep or from ``fpw status``.
        """
        kwargs: dict[str, Any] = {"TableName": self.table}
        if statuses:
            placeholders = {f":s{i}": {"S": s.value} for i, s in enumerate(statuses)}
            kwargs["FilterExpression"] = f"#status IN ({', '.join(placeholders)})"
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
            kwargs["ExpressionAttributeValues"] = placeholders
        yield from self._pages("scan", kwargs, on_malformed or skip_malformed)

    def _pages(
        self, operation: str, kwargs: dict[str, Any], on_malformed: Malformed
    ) -> Iterator[Job]:
        call = getattr(self.dynamodb, operation)
        while True:
            try:
                answer = call(**kwargs)
            except ClientError as exc:
                raise _convert(exc, None) from exc
            for item in answer.get("Items", []):
                # The table also holds coordination items (stream leases).
                if item.get("file", {}).get("S", "").startswith("file-"):
                    try:
                        job = from_item(item)
                    except IntegrityError as exc:
                        on_malformed(item, exc)
                        continue
                    yield job
            if "LastEvaluatedKey" not in answer:
                return
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def skip_malformed(item: dict[str, Any], exc: IntegrityError) -> None:
    log.warning("skipping a malformed job record: %s", exc)


def _convert(exc: ClientError, file_id: str | None) -> FpwError:
    code = exc.response.get("Error", {}).get("Code", "?")
    message = exc.response.get("Error", {}).get("Message", str(exc))
    if code in THROTTLED:
        return TransientError(f"DynamoDB is busy ({code}): {message}", job=file_id)
    if code in ("AccessDeniedException", "UnrecognizedClientException", "AccessDenied"):
        return FpwError(
            f"DynamoDB refused the request ({code}): {message}",
            job=file_id,
            hint="check this part's role and credentials",
        )
    if code == "ValidationException" and "maximum allowed size" in message:
        return RecordTooLarge(f"DynamoDB error {code}: {message}", job=file_id)
    return FpwError(f"DynamoDB error {code}: {message}", job=file_id)
