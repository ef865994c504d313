"""What the fault, chaos and load tests count, each from a source the parts
under test do not control: the processor's own record of calls, the jobs
table's stream (every write, as DynamoDB saw it) and the bucket's listing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from infra.local.stack import LocalStack
from shared.aws import Aws
from shared.record import Status, chunk_prefix
from tests.loopback import Loopback, Quiet


class RecordingProcessor(Loopback):
    """A fast analysis container on loopback that counts ``POST /analyze`` per job.

    Its result names the SHA-256 and size of the file it was given, so that a
    test can check each decrypted result against the original; ``seconds`` is
    how long each call takes.
    """

    def __init__(self, seconds: float = 0.0) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds = seconds
        lock = threading.Lock()
        calls = self.calls
        outer = self

        class Handler(Quiet):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/health":
                    self.answer(b'{"status":"ok"}')
                else:
                    self.answer(b'{"error":"no progress reported"}', 404)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                job = self.headers.get("X-Fpw-Job", "?")
                with lock:
                    calls[job] += 1
                time.sleep(outer.seconds)
                result = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
                # A fetcher killed while it waits is gone before the answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.answer(json.dumps(result).encode())

        super().__init__(Handler)


def admin(stack: LocalStack) -> Aws:
    return Aws(stack.admin_settings(), "test-ledger")


def completions(stack: LocalStack, files: Iterable[str]) -> Counter[str]:
    """How often each job was written COMPLETED, from every record of the table's stream.

    Two write-backs of one job would be two records whose new image says
    COMPLETED and whose old image does not.
    """
    wanted = set(files)
    aws = admin(stack)
    arn = aws.stream_arn()
    assert arn, "the jobs table has no stream"
    streams = aws.streams
    found: Counter[str] = Counter()
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator: str | None = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            records = answer.get("Records", [])
            for record in records:
                change = record.get("dynamodb", {})
                new = change.get("NewImage", {})
                old = change.get("OldImage", {})
                file_id = new.get("file", {}).get("S", "")
                completed = Status.COMPLETED.value
                if (
                    file_id in wanted
                    and new.get("status", {}).get("S") == completed
                    and old.get("status", {}).get("S") != completed
                ):
                    found[file_id] += 1
            if not records:
                break  # an open shard always hands out a next iterator
            iterator = answer.get("NextShardIterator")
    return found


def chunks_left(stack: LocalStack, client: str, files: Iterable[str] | None = None) -> list[str]:
    """Chunk objects still in the bucket for ``client`` (only of ``files`` if given)."""
    aws = admin(stack)
    prefixes = [chunk_prefix(client, f) for f in files] if files is not None else [f"{client}/"]
    keys: list[str] = []
    paginator = aws.s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=aws.settings.bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


@dataclass(frozen=True)
class Tally:
    """One line a fault test prints: what happened to its jobs."""

    jobs: int
    completed: int
    retries: int
    """Claims beyond the first (a job reaped and run again)."""
    duplicates: int
    """COMPLETED write-backs or results delivered beyond one per job."""
    leftovers: int
    """Chunk objects still in the bucket."""
    calls: int
    """Processor calls, all jobs together."""

    def line(self, **more: object) -> str:
        extra = "".join(f" {k}={v}" for k, v in more.items())
        return (
            f"jobs={self.jobs} completed={self.completed} retries={self.retries}"
            f" duplicates={self.duplicates} leftovers={self.leftovers}"
            f" processor_calls={self.calls}{extra}"
        )
