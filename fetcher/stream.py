"""Reading the jobs table's DynamoDB Stream: a hint for promptness, never the truth.

DynamoDB Streams serve at most two readers per shard, keep records 24 hours
and split shards (a parent must be read before its children). So only the
holders of a lease (see ``fetcher.lease``) read the stream, and this reader
follows shard lineage: it reads a child only once its parent is finished (or
gone), resumes from a checkpoint after an expired iterator or a restart, and
falls back to the oldest record when data it wanted was trimmed. A missed
record costs latency only: the queue index is what fetchers trust.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared.aws import error_code

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    id: str
    parent: str | None


@dataclass
class Checkpoints:
    """Where reading stopped, per shard; persisted with the lease to survive restarts."""

    position: dict[str, str] = field(default_factory=dict)
    """Last sequence number handled per shard."""
    finished: set[str] = field(default_factory=set)
    """Closed shards read to their end."""

    def to_json(self) -> dict[str, Any]:
        return {"position": dict(self.position), "finished": sorted(self.finished)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Checkpoints:
        data = data or {}
        return cls(dict(data.get("position", {})), set(data.get("finished", [])))


@dataclass(frozen=True)
class Hint:
    """A job that may be claimable now (inserted or returned to the queue)."""

    file: str
    version: str
    size: int | None = None
    """The file's size as the record had it: room is checked without reading it again."""


def readable(shards: Iterable[Shard], checkpoints: Checkpoints) -> list[Shard]:
    """Shards to read now, parents before children (pure).

    A shard is readable when it is not finished and its parent is finished,
    unknown to the stream (trimmed after 24 hours) or absent.
    """
    known = {s.id for s in shards}
    done = checkpoints.finished
    return [
        shard
        for shard in shards
        if shard.id not in done
        and (shard.parent is None or shard.parent not in known or shard.parent in done)
    ]


def hints_from(records: Iterable[Mapping[str, Any]]) -> list[Hint]:
    """Which stream records announce a job that a fetcher could claim (pure)."""
    hints = []
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage") or {}
        if record.get("eventName") not in ("INSERT", "MODIFY"):
            continue
        if image.get("status", {}).get("S") != "QUEUED" or "queue" not in image:
            continue
        file_id = image.get("file", {}).get("S", "")
        if file_id.startswith("file-"):
            try:
                size: int | None = int(image["size"]["N"])
            except (KeyError, TypeError, ValueError):
                size = None
            hints.append(Hint(file_id, image.get("version", {}).get("S", ""), size))
    return hints


class StreamReader:
    """Reads hints from every readable shard.

    A reader with no checkpoints at all (the first ever, or after the lease
    item was lost) starts the shards it finds at ``fresh_start``, by default
    ``LATEST``: records older than that describe jobs the queue index already
    shows, and replaying up to 24 hours of them would only delay new hints.
    Shards that appear later (children of a split) are read from their start.

    The list of shards is reused for ``describe_seconds`` (0: listed at every
    pass), except that a pass which reads a shard to its end lists them again
    at the next: a shard closes when its children start, so they are found at once.
    """

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        checkpoints: Checkpoints | None = None,
        fresh_start: str = "LATEST",
        describe_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.checkpoints = checkpoints or Checkpoints()
        self._iterators: dict[str, str] = {}
        self.fresh_start = fresh_start
        self.describe_seconds = describe_seconds
        self.clock = clock
        self._listed: list[Shard] | None = None
        self._listed_at = float("-inf")
        self.records = 0
        """Records read so far (hints or not): a stream with records is busy."""
        fresh = not self.checkpoints.position and not self.checkpoints.finished
        self._start_late: set[str] | None = None if fresh else set()

    def shards(self) -> list[Shard]:
        shards: list[Shard] = []
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            for raw in description.get("Shards", []):
                shards.append(Shard(raw["ShardId"], raw.get("ParentShardId")))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def _iterator(self, shard: Shard, from_start: bool = False) -> str | None:
        position = self.checkpoints.position.get(shard.id)
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.id}
        if position and not from_start:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position)
        elif not from_start and self._start_late and shard.id in self._start_late:
            kwargs["ShardIteratorType"] = self.fresh_start
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        try:
            return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])
        except ClientError as exc:
            code = error_code(exc)
            if code == "TrimmedDataAccessException" and not from_start:
                log.warning(
                    "stream data after %s was trimmed; reading %s from its oldest record",
                    position,
                    shard.id,
                )
                return self._iterator(shard, from_start=True)
            if code == "ResourceNotFoundException":
                self.checkpoints.finished.add(shard.id)  # the shard aged out
                self._listed = None
                return None
            raise

    def poll(self, limit: int = 100, still_valid: Callable[[], bool] = lambda: True) -> list[Hint]:
        """One pass over every readable shard; returns the hints found.

        ``still_valid`` is asked before each shard: a reader whose lease is
        about to end stops at once.
        """
        hints: list[Hint] = []
        shards = self._shards()
        if self._start_late is None:
            self._start_late = {shard.id for shard in shards}
        for shard in readable(shards, self.checkpoints):
            if not still_valid():
                break
            iterator = self._iterators.get(shard.id) or self._iterator(shard)
            if iterator is None:
                continue
            try:
                answer = self.streams.get_records(ShardIterator=iterator, Limit=limit)
            except ClientError as exc:
                code = error_code(exc)
                if code in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                    # Iterators live 15 minutes; start again from the checkpoint.
                    self._iterators.pop(shard.id, None)
                    iterator = self._iterator(
                        shard, from_start=code == "TrimmedDataAccessException"
                    )
                    if iterator is None:
                        continue
                    answer = self.streams.get_records(ShardIterator=iterator, Limit=limit)
                else:
                    self._listed = None  # a shard gone, say: the next pass lists them again
                    raise
            records = answer.get("Records", [])
            self.records += len(records)
            hints.extend(hints_from(records))
            if records:
                self.checkpoints.position[shard.id] = records[-1]["dynamodb"]["SequenceNumber"]
            following = answer.get("NextShardIterator")
            if following:
                self._iterators[shard.id] = following
            else:
                # No next iterator: a closed shard read to its end.
                self._iterators.pop(shard.id, None)
                self.checkpoints.finished.add(shard.id)
                self._listed = None  # its children: list the shards again next pass
        return hints

    def _shards(self) -> list[Shard]:
        """The shards, listed again once ``describe_seconds`` old or after a shard ended."""
        now = self.clock()
        if self._listed is None or now - self._listed_at >= self.describe_seconds:
            self._listed = self.shards()
            self._listed_at = now
        return self._listed
