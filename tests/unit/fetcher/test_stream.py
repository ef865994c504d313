"""The stream reader against the shapes DynamoDB Streams answers with when
shards split, iterators expire and data is trimmed (the local stack has one
shard and never expires iterators, so these shapes come from botocore's
Stubber, checked against the service model)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from fetcher.stream import Checkpoints, Shard, StreamReader, hints_from, readable

A = "shardId-00000001700000000000-aaaaaaaa"
B = "shardId-00000001700000100000-bbbbbbbb"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/fpw-jobs/stream/2026-11-23T00:00:00.000"


def seq(n: int) -> str:
    """Sequence numbers are 21 or more digits."""
    return f"{n:021d}"


def shard(shard_id: str, parent: str | None = None, closed: bool = False) -> dict[str, Any]:
    numbers = {"StartingSequenceNumber": seq(1)}
    if closed:
        numbers["EndingSequenceNumber"] = seq(999)
    raw: dict[str, Any] = {"ShardId": shard_id, "SequenceNumberRange": numbers}
    if parent:
        raw["ParentShardId"] = parent
    return raw


def describe(*shards: dict[str, Any]) -> dict[str, Any]:
    return {
        "StreamDescription": {
            "StreamArn": ARN,
            "StreamStatus": "ENABLED",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "TableName": "fpw-jobs",
            "Shards": list(shards),
        }
    }


def record(n: int, file_id: str, status: str = "QUEUED", event: str = "INSERT") -> dict[str, Any]:
    image: dict[str, Any] = {
        "file": {"S": file_id},
        "status": {"S": status},
        "version": {"S": "0.1.0"},
    }
    if status == "QUEUED":
        image["queue"] = {"S": "q1"}
    return {
        "eventName": event,
        "dynamodb": {"SequenceNumber": seq(n), "NewImage": image, "Keys": {"file": image["file"]}},
    }


def error(code: str) -> dict[str, Any]:
    return {"service_error_code": code, "service_message": code, "http_status_code": 400}


@pytest.fixture
def streams() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "dynamodbstreams",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_children_wait_for_their_parent_and_orphans_are_read_at_once() -> None:
    shards = [Shard("a", None), Shard("b", "a"), Shard("c", "gone")]
    assert [s.id for s in readable(shards, Checkpoints())] == ["a", "c"]
    assert [s.id for s in readable(shards, Checkpoints(finished={"a"}))] == ["b", "c"]


def test_only_queued_jobs_are_hints() -> None:
    records = [
        record(1, "file-1"),
        record(2, "file-2", status="PROCESSING", event="MODIFY"),
        record(3, "lease#stream#0"),
        {"eventName": "REMOVE", "dynamodb": {"SequenceNumber": seq(4)}},
    ]
    assert [h.file for h in hints_from(records)] == ["file-1"]


def test_a_shard_rollover_and_an_expired_iterator_lose_and_repeat_nothing(
    streams: tuple[Any, Stubber],
) -> None:
    client, stub = streams
    parent, child = shard(A, closed=True), shard(B, parent=A)
    reader = StreamReader(client, ARN, fresh_start="TRIM_HORIZON")

    # Pass 1: only the parent is readable.
    stub.add_response("describe_stream", describe(parent, child), {"StreamArn": ARN})
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-a1"},
        {"StreamArn": ARN, "ShardId": A, "ShardIteratorType": "TRIM_HORIZON"},
    )
    stub.add_response(
        "get_records",
        {"Records": [record(100, "file-1")], "NextShardIterator": "it-a2"},
        {"ShardIterator": "it-a1", "Limit": 100},
    )
    # Pass 2: the iterator has expired; the reader resumes after its checkpoint
    # and reads the parent to its end (no next iterator).
    stub.add_response("describe_stream", describe(parent, child), {"StreamArn": ARN})
    stub.add_client_error("get_records", **error("ExpiredIteratorException"))
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-a3"},
        {
            "StreamArn": ARN,
            "ShardId": A,
            "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
            "SequenceNumber": seq(100),
        },
    )
    stub.add_response(
        "get_records",
        {"Records": [record(101, "file-2")]},
        {"ShardIterator": "it-a3", "Limit": 100},
    )
    # Pass 3: the parent is finished, so the child is read.
    stub.add_response("describe_stream", describe(parent, child), {"StreamArn": ARN})
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-b1"},
        {"StreamArn": ARN, "ShardId": B, "ShardIteratorType": "TRIM_HORIZON"},
    )
    stub.add_response(
        "get_records",
        {"Records": [record(200, "file-3")], "NextShardIterator": "it-b2"},
        {"ShardIterator": "it-b1", "Limit": 100},
    )

    seen = [h.file for _ in range(3) for h in reader.poll()]
    assert seen == ["file-1", "file-2", "file-3"]
    assert reader.checkpoints.finished == {A}
    assert reader.checkpoints.position[B] == seq(200)


def test_a_new_reader_resumes_from_the_checkpoints_and_survives_trimmed_data(
    streams: tuple[Any, Stubber],
) -> None:
    client, stub = streams
    saved = json.loads(
        json.dumps(Checkpoints({B: seq(200)}, {A}).to_json())
    )  # as persisted with the lease
    reader = StreamReader(client, ARN, Checkpoints.from_json(saved))
    parent, child = shard(A, closed=True), shard(B, parent=A)

    stub.add_response("describe_stream", describe(parent, child), {"StreamArn": ARN})
    # The data after the checkpoint was trimmed (older than 24 hours).
    stub.add_client_error("get_shard_iterator", **error("TrimmedDataAccessException"))
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-b9"},
        {"StreamArn": ARN, "ShardId": B, "ShardIteratorType": "TRIM_HORIZON"},
    )
    stub.add_response(
        "get_records",
        {"Records": [record(300, "file-4")], "NextShardIterator": "it-b10"},
        {"ShardIterator": "it-b9", "Limit": 100},
    )
    assert [h.file for h in reader.poll()] == ["file-4"]
    assert reader.checkpoints.position[B] == seq(300)


def test_a_first_reader_starts_at_the_newest_record_and_a_later_child_at_its_oldest(
    streams: tuple[Any, Stubber],
) -> None:
    client, stub = streams
    reader = StreamReader(client, ARN)  # no checkpoints: nothing was ever read
    open_a = shard(A)
    stub.add_response("describe_stream", describe(open_a), {"StreamArn": ARN})
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-a1"},
        {"StreamArn": ARN, "ShardId": A, "ShardIteratorType": "LATEST"},
    )
    stub.add_response(
        "get_records",
        {"Records": [], "NextShardIterator": "it-a2"},
        {"ShardIterator": "it-a1", "Limit": 100},
    )
    # The shard splits: the parent ends, the child is new and read from its start.
    closed_a, child = shard(A, closed=True), shard(B, parent=A)
    stub.add_response("describe_stream", describe(closed_a, child), {"StreamArn": ARN})
    stub.add_response(
        "get_records", {"Records": [record(7, "file-5")]}, {"ShardIterator": "it-a2", "Limit": 100}
    )
    stub.add_response("describe_stream", describe(closed_a, child), {"StreamArn": ARN})
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-b1"},
        {"StreamArn": ARN, "ShardId": B, "ShardIteratorType": "TRIM_HORIZON"},
    )
    stub.add_response(
        "get_records",
        {"Records": [record(8, "file-6")], "NextShardIterator": "it-b2"},
        {"ShardIterator": "it-b1", "Limit": 100},
    )
    seen = [h.file for _ in range(3) for h in reader.poll()]
    assert seen == ["file-5", "file-6"]


def test_a_hint_carries_the_size_its_record_has() -> None:
    sized = record(1, "file-1")
    sized["dynamodb"]["NewImage"]["size"] = {"N": "102400"}
    unsized, odd = record(2, "file-2"), record(3, "file-3")
    odd["dynamodb"]["NewImage"]["size"] = {"S": "big"}
    hints = hints_from([sized, unsized, odd])
    assert [(h.file, h.size) for h in hints] == [
        ("file-1", 102400),
        ("file-2", None),
        ("file-3", None),
    ]


def test_the_shard_list_is_reused_until_a_shard_ends_and_its_child_is_read_at_once(
    streams: tuple[Any, Stubber],
) -> None:
    client, stub = streams
    reader = StreamReader(
        client, ARN, fresh_start="TRIM_HORIZON", describe_seconds=60.0, clock=lambda: 0.0
    )
    # Pass 1: one open shard.
    stub.add_response("describe_stream", describe(shard(A)), {"StreamArn": ARN})
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-a1"},
        {"StreamArn": ARN, "ShardId": A, "ShardIteratorType": "TRIM_HORIZON"},
    )
    stub.add_response(
        "get_records",
        {"Records": [record(100, "file-1")], "NextShardIterator": "it-a2"},
        {"ShardIterator": "it-a1", "Limit": 100},
    )
    # Pass 2: no listing; the shard is read to its end (it closed: no next iterator).
    stub.add_response(
        "get_records",
        {"Records": [record(101, "file-2")]},
        {"ShardIterator": "it-a2", "Limit": 100},
    )
    # Pass 3: listed again at once, so the child is read from its start.
    parent, child = shard(A, closed=True), shard(B, parent=A)
    stub.add_response("describe_stream", describe(parent, child), {"StreamArn": ARN})
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-b1"},
        {"StreamArn": ARN, "ShardId": B, "ShardIteratorType": "TRIM_HORIZON"},
    )
    stub.add_response(
        "get_records",
        {"Records": [record(200, "file-3")], "NextShardIterator": "it-b2"},
        {"ShardIterator": "it-b1", "Limit": 100},
    )
    # Pass 4: the new list is reused.
    stub.add_response(
        "get_records",
        {"Records": [], "NextShardIterator": "it-b3"},
        {"ShardIterator": "it-b2", "Limit": 100},
    )

    seen = [h.file for _ in range(4) for h in reader.poll()]
    assert seen == ["file-1", "file-2", "file-3"]
    assert reader.records == 3
