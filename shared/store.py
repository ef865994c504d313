"""The bucket: every S3 call the parts make (chunks, results, receipts, profiles).

Refusals become our errors through ``shared.aws.convert``; an object that is
not there is an answer (None or False), not an error, since every caller has
a plan for it (wait for a chunk, treat a result as gone, skip a receipt).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.aws import MISSING, convert, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class Stored:
    """One listed object."""

    key: str
    modified: dt.datetime
    size: int


@dataclass
class Opened:
    """An object being read: its body (a stream to close) and announced size (-1 if none)."""

    body: Any
    size: int

    def close(self) -> None:
        self.body.close()


class Store:
    """S3 through one door; buckets are named per call (a job names its own)."""

    def __init__(self, s3: S3Client) -> None:
        self.s3 = s3

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes | bytearray,
        *,
        content_type: str | None = None,
        create_only: bool = False,
    ) -> bool:
        """Write an object; with ``create_only``, False when one is there already."""
        extra: dict[str, Any] = {}
        if content_type is not None:
            extra["ContentType"] = content_type
        if create_only:
            extra["IfNoneMatch"] = "*"
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=bytes(body), **extra)
        except ClientError as exc:
            if create_only and error_code(exc) == "PreconditionFailed":
                return False
            raise convert(exc, "S3") from exc
        return True

    def open(self, bucket: str, key: str, *, first: int | None = None) -> Opened | None:
        """Start reading an object (only its ``first`` bytes when given); None when absent."""
        extra: dict[str, Any] = {"Range": f"bytes=0-{first - 1}"} if first is not None else {}
        try:
            answer = self.s3.get_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            if error_code(exc) in MISSING:
                return None
            raise convert(exc, "S3") from exc
        return Opened(answer["Body"], int(answer.get("ContentLength", -1)))

    def get(self, bucket: str, key: str, *, first: int | None = None) -> bytes | None:
        """An object's bytes (at most ``first`` of them when given); None when absent."""
        opened = self.open(bucket, key, first=first)
        if opened is None:
            return None
        try:
            return bytes(opened.body.read())
        finally:
            opened.close()

    def delete(self, bucket: str, key: str) -> None:
        """Delete an object (one already gone is no error)."""
        try:
            self.s3.delete_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise convert(exc, "S3") from exc

    def objects(self, bucket: str, prefix: str = "") -> Iterator[Stored]:
        """Every object under ``prefix``, in key order, a page at a time."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    yield Stored(obj["Key"], obj["LastModified"], int(obj.get("Size", 0)))
        except ClientError as exc:
            raise convert(exc, "S3") from exc
