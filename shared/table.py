"""The jobs table: every read and write of it, and the state machine's updates.

No other module calls DynamoDB for jobs (the clients table has
``shared.clients``). A failed condition becomes ``ClaimLost`` carrying the
item that won (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so callers
can log who holds the job now without a second read; any other refusal
becomes one of our errors through ``shared.aws.convert``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared import presence, transitions
from shared.aws import convert, error_code
from shared.errors import ClaimLost, FpwError, IntegrityError
from shared.record import HOLDER, Job, Status, from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

Malformed = Callable[[dict[str, Any], IntegrityError], None]
"""Told of a job record that does not parse: the raw item and why."""

QUEUE_INDEX = "queue-index"
CLIENT_INDEX = "client-index"
SWEEP_INDEX = "sweep-index"
BATCH = 100
"""Keys one BatchGetItem takes."""
REFUSED = "ConditionalCheckFailedException"


def pages(call: Callable[..., Any], kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a paged ``query`` or ``scan`` (the one paging loop)."""
    kwargs = dict(kwargs)
    while True:
        try:
            answer = call(**kwargs)
        except ClientError as exc:
            raise _convert(exc, None) from exc
        yield from answer.get("Items", [])
        if "LastEvaluatedKey" not in answer:
            return
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


@dataclass(frozen=True)
class Summary:
    """A job as the client index lists it: enough to tell which records to read in full.

    The record is written by fetchers: a status or progress no part writes
    passes as it is (or as None) instead of stopping the listing.
    """

    file: str
    status: str
    created: str
    progress: int | None


@dataclass(frozen=True)
class Peek:
    """The few fields read before a claim (None where absent or malformed)."""

    status: str | None
    holder: str | None
    size: int | None


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
            if error_code(exc) == REFUSED:
                raise ClaimLost("a job with this id already exists", job=job.file) from exc
            raise _convert(exc, job.file) from exc

    def get(self, file_id: str, consistent: bool = True) -> Job | None:
        item = self._item(file_id, consistent)
        return from_item(item) if item else None

    def _item(self, file_id: str, consistent: bool = True) -> dict[str, Any] | None:
        """One record as stored (None when there is none)."""
        try:
            answer = self.dynamodb.get_item(
                TableName=self.table, Key={"file": {"S": file_id}}, ConsistentRead=consistent
            )
        except ClientError as exc:
            raise _convert(exc, file_id) from exc
        item = answer.get("Item")
        return dict(item) if item else None

    def peek(self, file_id: str) -> Peek | None:
        """Status, holder and size of one job (None when there is no such record)."""
        try:
            answer = self.dynamodb.get_item(
                TableName=self.table,
                Key={"file": {"S": file_id}},
                ProjectionExpression="#size, #status, #holder",
                ExpressionAttributeNames={"#size": "size", "#status": "status", "#holder": HOLDER},
            )
        except ClientError as exc:
            raise _convert(exc, file_id) from exc
        item = answer.get("Item")
        if item is None:
            return None
        try:
            size: int | None = int(item["size"]["N"])
        except (KeyError, TypeError, ValueError):
            size = None
        return Peek(item.get("status", {}).get("S"), item.get(HOLDER, {}).get("S"), size)

    def apply(self, file_id: str, update: transitions.Update) -> Job:
        """Run one transition; returns the job as it is afterwards."""
        return from_item(self.apply_raw(file_id, update))

    def apply_raw(self, key: str, update: transitions.Update) -> dict[str, Any]:
        """One conditional update of any item (jobs, leases); returns the raw item after it.

        A failed condition raises ``ClaimLost`` carrying the record that won.
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
            if error_code(exc) == REFUSED:
                old: dict[str, Any] | None = exc.response.get("Item") or None  # type: ignore[assignment]
                raise ClaimLost(
                    "the item changed hands or state", job=key, current=_parsed(old), raw=old
                ) from exc
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
        """Every job of one client key, oldest first, each read in full.

        The client index projects only what desktops poll (``summaries``), so
        that the fetchers' other writes do not copy each record into it; a
        listing of whole jobs (an administrator's, rare) reads each record
        with a consistent GetItem. A job gone between the two is left out.
        """
        handle = on_malformed or skip_malformed
        for summary in self.summaries(client):
            item = self._item(summary.file)
            if item is None:
                continue
            try:
                yield from_item(item)
            except IntegrityError as exc:
                handle(item, exc)

    def summaries(self, client: str, since: str = "") -> list[Summary]:
        """File id, status, creation and progress of a client's jobs created since
        ``since`` (all when empty), oldest first: one paged query, not a read per job."""
        names = {f"#{n}": n for n in ("client", "created", "file", "status", "progress")}
        values: dict[str, Any] = {":me": {"S": client}}
        condition = "#client = :me"
        if since:
            condition += " AND #created >= :since"
            values[":since"] = {"S": since}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": CLIENT_INDEX,
            "KeyConditionExpression": condition,
            "ProjectionExpression": "#file, #status, #created, #progress",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        return [_summary(item) for item in pages(self.dynamodb.query, kwargs)]

    def listed(self, index: str, key: str, value: str) -> Iterator[str]:
        """File ids of one partition of a sparse index, every page (ids only:
        a page holds thousands)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#key = :value",
            "ProjectionExpression": "#file",
            "ExpressionAttributeNames": {"#key": key, "#file": "file"},
            "ExpressionAttributeValues": {":value": {"S": value}},
        }
        for item in pages(self.dynamodb.query, kwargs):
            yield str(item["file"]["S"])

    def many(self, file_ids: Iterable[str], on_malformed: Malformed | None = None) -> Iterator[Job]:
        """The jobs of ``file_ids`` (each once; ids without a record are left out),
        a hundred a request, eventually consistent: the sweep acts on them only
        with conditional writes."""
        ids = list(dict.fromkeys(file_ids))
        for start in range(0, len(ids), BATCH):
            keys: list[dict[str, Any]] = [{"file": {"S": f}} for f in ids[start : start + BATCH]]
            tries = 0
            while keys:
                try:
                    answer: dict[str, Any] = dict(
                        self.dynamodb.batch_get_item(RequestItems={self.table: {"Keys": keys}})
                    )
                except ClientError as exc:
                    raise _convert(exc, None) from exc
                yield from _jobs(answer.get("Responses", {}).get(self.table, []), on_malformed)
                keys = list(answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", []))
                if keys:  # throttled: AWS asks for a pause before the rest
                    tries += 1
                    time.sleep(min(2.0, 0.05 * 2**tries))

    def presences(self) -> list[presence.Presence]:
        """Every fetcher's presence item that parses (see ``shared.presence``)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(#file, :prefix)",
            "ExpressionAttributeNames": {"#file": "file"},
            "ExpressionAttributeValues": {":prefix": {"S": presence.PRESENCE_PREFIX}},
        }
        return [p for item in pages(self.dynamodb.scan, kwargs) if (p := presence.parse(item))]

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
        yield from _jobs(pages(self.dynamodb.scan, kwargs), on_malformed)


def _jobs(items: Iterable[dict[str, Any]], on_malformed: Malformed | None) -> Iterator[Job]:
    """The job records among ``items``, parsed; the table also holds coordination
    items (stream leases, presence), which are passed over."""
    for item in items:
        if str(item.get("file", {}).get("S", "")).startswith("file-"):
            try:
                job = from_item(item)
            except IntegrityError as exc:
                (on_malformed or skip_malformed)(item, exc)
                continue
            yield job


def skip_malformed(item: dict[str, Any], exc: IntegrityError) -> None:
    log.warning("skipping a malformed job record: %s", exc)


def _parsed(item: dict[str, Any] | None) -> Job | None:
    """A refused write's winning record as a job, when it is one that parses."""
    if not item or not str(item.get("file", {}).get("S", "")).startswith("file-"):
        return None
    try:
        return from_item(item)
    except IntegrityError:
        return None


def _summary(item: dict[str, Any]) -> Summary:
    progress: int | None = None
    raw = item.get("progress", {}).get("N")
    if raw is not None:
        try:
            progress = max(0, min(100, int(float(raw))))
        except (TypeError, ValueError, OverflowError):
            progress = None
    return Summary(
        file=str(item["file"]["S"]),
        status=str(item.get("status", {}).get("S", "?")),
        created=str(item.get("created", {}).get("S", "")),
        progress=progress,
    )


def _convert(exc: ClientError, file_id: str | None) -> FpwError:
    return convert(exc, "DynamoDB", file_id)
