"""AWS's published limits and latencies: the model's only view of AWS.

Every figure names the page it comes from. Where AWS publishes no number
(how long a Scan page takes, how fast an index catches up in practice) the
figure is marked as an assumption, and docs/scale.md says how the results
move with it.
"""

from __future__ import annotations

from dataclasses import dataclass

DDB_PARTITIONS = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
DDB_GSI_THROUGHPUT = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
    "GSI.ThroughputConsiderations.html"
)
DDB_QUOTAS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
DDB_ON_DEMAND = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html"
)
DDB_GSI = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html"
DDB_PAGES = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html"
DDB_PRODUCT = "https://aws.amazon.com/dynamodb/"
STREAMS_GET_RECORDS = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html"
)
S3_PERFORMANCE = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html"
S3_PATTERNS = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
    "optimizing-performance-design-patterns.html"
)
ASSUMED = "assumption (AWS publishes no figure); see docs/scale.md"


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class Limit:
    """A rate the model's demand is compared against, second by second."""

    name: str
    value: float
    unit: str
    source: str


# The limits the model checks. A resource's demand is metered per second and
# per key; every second over its limit is reported (the model does not
# throttle: AWS would, with retries and latency, where it reports a crossing).
PARTITION_WRITE = Limit(
    "partition write units",
    1000.0,
    "write units/s on one partition key (the table's and each index's)",
    DDB_PARTITIONS + " ; " + DDB_GSI_THROUGHPUT,
)
PARTITION_READ = Limit(
    "partition read units",
    3000.0,
    "read units/s on one partition key (the table's and each index's)",
    DDB_PARTITIONS,
)
TABLE_WRITE = Limit(
    "table write units",
    40_000.0,
    "on-demand write units/s per table or index (default account quota)",
    DDB_QUOTAS,
)
TABLE_READ = Limit(
    "table read units",
    40_000.0,
    "on-demand read units/s per table or index (default account quota)",
    DDB_QUOTAS,
)
NEW_TABLE_WRITE = Limit(
    "new on-demand table write units",
    4_000.0,
    "write units/s a new on-demand table serves at once (then up to twice its previous"
    " peak; more at once only with warm throughput)",
    DDB_ON_DEMAND,
)
NEW_TABLE_READ = Limit(
    "new on-demand table read units",
    12_000.0,
    "read units/s a new on-demand table serves at once",
    DDB_ON_DEMAND,
)
STREAM_READERS = Limit(
    "stream readers per shard", 2.0, "processes reading one stream shard at once", DDB_QUOTAS
)
STREAM_RECORDS = Limit(
    "stream records per read",
    1000.0,
    "records one GetRecords returns (the lease holder reads every shard once per"
    " fetcher.stream_poll_seconds)",
    STREAMS_GET_RECORDS,
)
S3_WRITES = Limit(
    "S3 writes per prefix",
    3500.0,
    "PUT/COPY/POST/DELETE requests/s per partitioned prefix (chunks and receipts are"
    " under the client's key)",
    S3_PERFORMANCE,
)
S3_READS = Limit(
    "S3 reads per prefix", 5500.0, "GET/HEAD requests/s per partitioned prefix", S3_PERFORMANCE
)
ITEM_BYTES = Limit("item size", 400 * 1024.0, "bytes in one item", DDB_QUOTAS)
SWEEP_TIME = Limit(
    "watcher sweep time",
    0.0,  # set from watcher.interval_seconds
    "seconds a sweep's Scan takes, against watcher.interval_seconds (a sweep that takes"
    " longer delays stalled-job recovery and runs back to back)",
    "fpw's own design: watcher/sweep.py",
)

LIMITS = (
    PARTITION_WRITE,
    PARTITION_READ,
    TABLE_WRITE,
    TABLE_READ,
    NEW_TABLE_WRITE,
    NEW_TABLE_READ,
    STREAM_READERS,
    STREAM_RECORDS,
    S3_WRITES,
    S3_READS,
    ITEM_BYTES,
    SWEEP_TIME,
)

# Sizes and latencies.
READ_BLOCK = Figure(4096.0, "bytes per read unit (eventually consistent: half a unit)", DDB_QUOTAS)
WRITE_BLOCK = Figure(1024.0, "bytes per write unit", DDB_QUOTAS)
PAGE_BYTES = Figure(1024 * 1024.0, "bytes a Query or Scan reads per call", DDB_PAGES)
DDB_LATENCY = Figure(
    0.005, 's per DynamoDB request ("single-digit millisecond" at any scale)', DDB_PRODUCT
)
INDEX_LAG = Figure(
    0.5,
    's for a table write to reach a global secondary index ("within a fraction of a'
    ' second" under normal conditions; the model takes the upper end)',
    DDB_GSI,
)
S3_FIRST_BYTE = Figure(
    0.1, "s to the first byte of a small S3 request (100 to 200 ms)", S3_PATTERNS
)
S3_BANDWIDTH = Figure(85e6, "bytes/s over one S3 connection (85 to 90 MB/s)", S3_PATTERNS)
SCAN_PAGE_SECONDS = Figure(0.05, "s for one 1 MB Scan page", ASSUMED)
