"""From counted requests to capacity units and dollars (pure; no I/O).

Prices are AWS's public list prices for us-east-1, on-demand, as stated in
``PRICES``; capacity units follow DynamoDB's documented rules: item size is
the sum of attribute names and values; a write costs one unit per started
KiB of the item, and one unit per started KiB of its copy in every global
secondary index the write changes (``client-index`` holds the keys, status
and progress: written when a job is created or either changes; ``queue-index``
a few small fields, written when a job enters or leaves it); a failed
conditional write still costs its units; reads cost one unit per started 4
KiB (half for eventually consistent reads, as every index query is), and a
query is rounded up over all the items it read. Each DynamoDB Streams
``GetRecords`` is one streams read unit; the other stream calls are free.
S3 PUT, POST and LIST requests are one price class, GET and HEAD another,
DELETE is free.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from bench.proxy import Call

PRICES_SOURCE = (
    "AWS list prices, us-east-1, on-demand: DynamoDB as reduced on 1 November 2024,"
    " S3 Standard, DynamoDB Streams, CloudWatch, EC2 g4dn.xlarge; as published in 2025"
)


@dataclass(frozen=True)
class Prices:
    write_unit: float = 0.625e-6
    """DynamoDB on-demand, per write request unit."""
    read_unit: float = 0.125e-6
    """DynamoDB on-demand, per read request unit."""
    stream_read: float = 0.02 / 100_000
    """DynamoDB Streams, per GetRecords (the first 2.5 million a month are free)."""
    s3_put: float = 0.005 / 1000
    """S3 Standard PUT, COPY, POST and LIST requests."""
    s3_get: float = 0.0004 / 1000
    """S3 Standard GET, SELECT and HEAD requests."""
    metric_put: float = 0.01 / 1000
    """CloudWatch PutMetricData requests."""
    s3_gb_month: float = 0.023
    """S3 Standard storage, first 50 TB."""
    table_gb_month: float = 0.25
    """DynamoDB Standard table storage (beyond the free 25 GB)."""
    gpu_hour: float = 0.526
    """EC2 g4dn.xlarge On-Demand, Linux (the template's default ``GpuInstanceType``, one
    fetcher+processor task each): https://aws.amazon.com/ec2/instance-types/g4/"""


PRICES = Prices()

GPU_INSTANCE = "g4dn.xlarge"
"""The accelerator a container is costed on: the template's default ``GpuInstanceType``,
one NVIDIA T4 (16 GiB), 4 vCPU, 16 GiB, one fetcher+processor task each."""
GPU_HOUR = PRICES.gpu_hour
"""Its Linux on-demand price per hour in us-east-1 (``Prices.gpu_hour``)."""
GPU_SOURCE = (
    f"EC2 {GPU_INSTANCE} Linux on-demand, us-east-1: ${GPU_HOUR}/h as listed on"
    " https://aws.amazon.com/ec2/pricing/on-demand/, recalled from that page as published"
    " in 2025; not read again for this run"
)


def gpu_dollars_per_1000_jobs(jobs_per_hour: float, price: float = GPU_HOUR) -> float:
    """The accelerator's share of 1,000 jobs: the hours they hold it, at its hourly price.
    The container is paid for whether it is analysing or waiting for its fetcher."""
    return price * 1000 / jobs_per_hour


S3_PUT_CLASS = {
    "PutObject",
    "UploadPart",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "ListObjectsV2",
    "ListObjects",
    "PostObject",
}
S3_GET_CLASS = {"GetObject", "HeadObject"}
CLIENT_INDEX = "client-index"


@dataclass
class Units:
    write_units: float = 0.0
    read_units: float = 0.0
    stream_reads: float = 0.0
    s3_puts: float = 0.0
    s3_gets: float = 0.0
    metric_puts: float = 0.0

    def __add__(self, other: Units) -> Units:
        return Units(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Units)))

    def scaled(self, factor: float) -> Units:
        return Units(*(getattr(self, f.name) * factor for f in fields(Units)))

    def dollars(self, prices: Prices = PRICES) -> float:
        return (
            self.write_units * prices.write_unit
            + self.read_units * prices.read_unit
            + self.stream_reads * prices.stream_read
            + self.s3_puts * prices.s3_put
            + self.s3_gets * prices.s3_get
            + self.metric_puts * prices.metric_put
        )


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (wire format)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":  # raw from boto3, base64 on the wire
        return len(inner) if isinstance(inner, bytes | bytearray) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in inner)
    return 0


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def _kib(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _read_units(size: int, consistent: bool) -> float:
    blocks = max(1, math.ceil(size / 4096))
    return float(blocks) if consistent else blocks / 2


# What client-index projects besides the table's and its own keys (infra/template.yaml).
CLIENT_INDEX_ATTRIBUTES = ("status", "progress")


def _in_client_index(item: Mapping[str, Any]) -> bool:
    return "client" in item and "created" in item


def _client_index_copy(item: Mapping[str, Any]) -> int:
    """Bytes of a record's copy in ``client-index``."""
    kept = ("file", "client", "created", *CLIENT_INDEX_ATTRIBUTES)
    return item_size({k: v for k, v in item.items() if k in kept})


def _touches(request: Mapping[str, Any], *attributes: str) -> bool:
    names = request.get("ExpressionAttributeNames", {})
    expression = str(request.get("UpdateExpression", ""))
    return any(v in attributes and k in expression for k, v in names.items())


def _touches_queue(request: Mapping[str, Any]) -> bool:
    return _touches(request, "queue")


def dynamodb_units(call: Call, job_item_bytes: int) -> Units:
    """Capacity of one DynamoDB call; ``job_item_bytes`` sizes the items of a query
    of any other index that asked for a projection (the response then hides their
    size). A client-index query reads the index's own narrow copies."""
    assert call.bodies is not None
    request: dict[str, Any] = json.loads(call.bodies[0] or b"{}")
    try:
        response: dict[str, Any] = json.loads(call.bodies[1] or b"{}")
    except ValueError:
        response = {}
    op = call.operation.split(" ")[0]
    if op == "PutItem":
        item = request.get("Item", {})
        size = item_size(item)
        if not call.ok:
            return Units(write_units=_kib(size))
        units = _kib(size)
        units += _kib(_client_index_copy(item)) if _in_client_index(item) else 0
        units += 1 if "queue" in item else 0
        return Units(write_units=units)
    if op == "UpdateItem":
        if not call.ok:
            return Units(write_units=_kib(item_size(response.get("Item"))))
        new = response.get("Attributes", {})
        size = item_size(new)
        units = _kib(size)
        if _in_client_index(new) and _touches(request, *CLIENT_INDEX_ATTRIBUTES):
            units += _kib(_client_index_copy(new))
        units += 1 if _touches_queue(request) else 0
        return Units(write_units=units)
    if op == "GetItem":
        size = item_size(response.get("Item"))
        return Units(read_units=_read_units(size, bool(request.get("ConsistentRead"))))
    if op in ("Query", "Scan"):
        items = response.get("Items", [])
        index = request.get("IndexName")
        if index == CLIENT_INDEX:
            # Each copy also holds the client key, which the query names but does not return.
            values = request.get("ExpressionAttributeValues", {})
            key = len("client") + sum(value_size(v) for v in values.values())
            size = sum(item_size(i) + key for i in items)
        elif index and "ProjectionExpression" in request:
            size = len(items) * job_item_bytes
        else:
            size = sum(item_size(i) for i in items)
        return Units(read_units=_read_units(size, bool(request.get("ConsistentRead"))))
    return Units()  # control plane (DescribeTable, ListStreams ...): not billed per request


def units_of(call: Call, job_item_bytes: int = 1024) -> Units:
    if call.service == "dynamodb" and call.bodies is not None:
        return dynamodb_units(call, job_item_bytes)
    if call.service == "streams":
        return Units(stream_reads=1.0 if call.operation == "GetRecords" else 0.0)
    if call.service == "s3":
        if call.operation in S3_PUT_CLASS:
            return Units(s3_puts=1.0)
        if call.operation in S3_GET_CLASS:
            return Units(s3_gets=1.0)
        return Units()
    if call.service == "monitoring" and call.operation == "PutMetricData":
        return Units(metric_puts=1.0)
    return Units()  # STS, deletes: free


def total(calls: Iterable[Call], job_item_bytes: int = 1024) -> Units:
    out = Units()
    for call in calls:
        out = out + units_of(call, job_item_bytes)
    return out


def storage_dollars(gib: float, seconds: float, gb_month: float) -> float:
    """Storage for ``gib`` GiB kept ``seconds`` (AWS bills GB of 2^30 bytes, months of 730 h)."""
    return gib * gb_month * seconds / (730 * 3600)
