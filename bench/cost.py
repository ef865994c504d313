"""AWS requests per job, counted on the wire, and what they cost.

Every part reaches the local stack through the counting proxy
(``bench.proxy``), each on a port of its own: the desktop agent (in this
process, shipped defaults), one fetcher and the instant processor, then the
watcher's sweeps. Nothing in the product is instrumented.

Per job: files are dropped one at a time (1 MiB of text, then 100 MiB of the
mixed data); the requests of the window, less what the same parts make idle
in a window as long (measured just before), divided by the jobs, by part and
operation. The watcher's share is its first sweep after the jobs (which
finds their receipts) less its second (which finds nothing new); the second
is also the steady cost of one sweep over the table as it stands.

Idle: three fetchers, each on its own proxy port, for a minute; one of them
holds the stream lease. The prototype's way (every fetcher reads the stream
every second) is computed from its description, not run.

The accelerator: the hours 1,000 jobs hold the analysis container, measured
again as ``bench.utilization`` does for both fetcher modes (``accelerator``),
priced at ``bench.prices.GPU_HOUR``; it leads the headline, being most of the bill.

Dollars: ``bench.prices`` (capacity units by DynamoDB's rules, list prices).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    Context,
    MiB,
    Outcome,
    json_lines,
    part_env,
    say,
    start_agent,
    start_fetcher,
    start_instant_processor,
    via,
    wait_for_reader,
)
from bench.data import Text, write_mixed
from bench.prices import (
    GPU_HOUR,
    GPU_INSTANCE,
    GPU_SOURCE,
    PRICES,
    PRICES_SOURCE,
    Units,
    gpu_dollars_per_1000_jobs,
    item_size,
    storage_dollars,
    total,
)
from bench.proxy import Call, CountingProxy

if TYPE_CHECKING:
    from infra.local.stack import LocalStack

FLEETS = (1, 10, 100)
RETENTION_SECONDS = 7 * 24 * 3600
SWEEP_SECONDS = 30.0
JOBS_PER_DAY = 1000
# Chunks live from their upload to the fetcher's merge; an hour bounds a busy queue.
CHUNK_LIFETIME_SECONDS = 3600.0


def by_operation(calls: list[Call]) -> Counter[str]:
    return Counter(
        f"{c.part}: {c.service} {c.operation}{'' if c.ok else ' (failed)'}" for c in calls
    )


def _less(window: Counter[str], idle: Counter[str], factor: float) -> dict[str, float]:
    """Counts of a window less the idle counts scaled to its length (never below 0)."""
    return {
        key: max(0.0, n - idle.get(key, 0) * factor)
        for key, n in window.items()
        if n - idle.get(key, 0) * factor > 0.05
    }


def _units_less(window: Units, idle: Units, factor: float) -> Units:
    diff = window + idle.scaled(-factor)
    return Units(*(max(0.0, v) for v in diff.__dict__.values()))


def run(ctx: Context) -> Outcome:
    from infra.local.up import System

    stack = ctx.stack()
    home = ctx.folder("cost")
    proxy = CountingProxy(stack.endpoint)
    counts = proxy.counts
    system = System(via(stack, proxy.endpoint("fetcher")), home / "system")
    agent = None
    batches = [("1 MiB", 1, ctx.pick(3, 10))]
    if not ctx.quick:
        batches.append(("100 MiB", 100, ctx.pick(1, 3)))
    idle_s = float(ctx.pick(6, 20))
    figures: dict[str, Any] = {"prices": PRICES_SOURCE, "per_job": {}}
    try:
        start_instant_processor(system)
        fetcher = start_fetcher(
            system, "fetcher", {"processor_url": system.processor_url, "work_dir": str(home / "w")}
        )
        agent, timeline = start_agent(
            via(stack, proxy.endpoint("client")), stack, home, "bench cost"
        )
        settings = agent.settings
        wait_for_reader(fetcher.output, fetcher.alive)
        say(f"cost: idle client and fetcher for {idle_s:.0f} s")
        mark = counts.mark()
        time.sleep(idle_s)
        idle_calls = counts.since(mark)
        idle_ops, idle_units = by_operation(idle_calls), total(idle_calls)
        outside = home / "outside"
        outside.mkdir()
        text = Text(seed=5)
        for label, mib, jobs in batches:
            say(f"cost: {jobs} jobs of {label}, one at a time")
            mark, began = counts.mark(), time.monotonic()
            ids = []
            for n in range(jobs):
                name = f"{label.replace(' ', '')}-{n}.bin"
                staged = outside / name
                if mib == 1:
                    staged.write_bytes(text.block(MiB))
                else:
                    write_mixed(staged, mib)
                staged.rename(settings.client.inbox / name)
                timeline.wait(name, 300)
                ids.append(timeline.ids[name])
            time.sleep(1.0)  # the receipt follows the saved result
            window = counts.since(mark)
            factor = (time.monotonic() - began) / idle_s
            record = _raw_record(stack, ids[-1])
            size = item_size(record)
            per_job_units = _units_less(total(window, size), idle_units, factor).scaled(1 / jobs)
            figures["per_job"][label] = {
                "jobs": jobs,
                "record_bytes": size,
                "requests": {
                    k: round(v / jobs, 2)
                    for k, v in sorted(_less(by_operation(window), idle_ops, factor).items())
                },
                "units": {k: round(v, 3) for k, v in per_job_units.__dict__.items()},
                "stored_mib": round(_chunk_bytes(window) / jobs / MiB, 2),
                "dollars": per_job_units.dollars(),
                "size_mib": mib,
            }
    finally:
        if agent is not None:
            agent.stop()
        system.stop()
    figures["watcher"] = _sweeps(stack, proxy, home)
    figures["idle"] = _idle_fleet(ctx, stack, proxy, home)
    proxy.close()
    sizes = {label: job["size_mib"] for label, job in figures["per_job"].items()}
    figures["accelerator"] = accelerator(ctx, sizes)
    return _summarize(figures)


def accelerator(ctx: Context, sizes: dict[str, int]) -> dict[str, Any]:
    """The hours 1,000 jobs hold the analysis container's accelerator, for both fetcher
    modes: measured again as ``bench.utilization`` does (a container taking 1 s a
    file, capacity 1, a backlog of jobs, one fetcher pipelined and one at a time),
    priced at ``bench.prices.GPU_HOUR``. The container is paid for while it waits."""
    from bench.utilization import ANALYSIS_SECONDS, MIB, client, one_run

    stack, key = client(ctx, "cost-accelerator")
    jobs = ctx.pick(20, 30)
    found: dict[str, Any] = {
        "instance": GPU_INSTANCE,
        "dollars_per_hour": GPU_HOUR,
        "price_source": GPU_SOURCE,
        "analysis_seconds": ANALYSIS_SECONDS,
        "jobs": jobs,
    }
    for label, mib in sizes.items():
        found[label] = {}
        for mode, pipelined in (("pipelined", True), ("one at a time", False)):
            row = one_run(
                ctx, stack, key, size=mib * MIB, jobs=jobs, capacity=1, pipelined=pipelined
            )
            found[label][mode] = {
                "busy_fraction": row["busy_fraction"],
                "jobs_per_hour": row["jobs_per_hour"],
                "gpu_dollars": round(gpu_dollars_per_1000_jobs(row["jobs_per_hour"]), 3),
            }
    return found


def _raw_record(stack: LocalStack, file_id: str) -> dict[str, Any]:
    from shared.aws import Aws

    admin = Aws(stack.admin_settings(), "bench-admin")
    answer = admin.dynamodb.get_item(
        TableName=stack.outputs["JobsTable"], Key={"file": {"S": file_id}}, ConsistentRead=True
    )
    return dict(answer.get("Item", {}))


def _chunk_bytes(calls: list[Call]) -> int:
    """Bytes of chunk objects the client put (receipts and results are not chunks)."""
    return sum(
        c.sent
        for c in calls
        if c.part == "client" and c.operation == "PutObject" and "/receipts/" not in c.path
    )


def _sweeps(stack: LocalStack, proxy: CountingProxy, home: Path) -> dict[str, Any]:
    from infra.local.up import aws_table
    from shared.config import dump_toml

    config = home / "watcher.toml"
    watcher_stack = via(stack, proxy.endpoint("watcher"))
    config.write_text(dump_toml({"aws": aws_table(watcher_stack.role_settings("watcher"))}))
    sweeps = []
    for n in (1, 2):
        say(f"cost: watcher sweep {n}")
        mark = proxy.counts.mark()
        out = subprocess.run(
            [sys.executable, "-m", "shared.cli", "watcher", "--once", "--json-logs"],
            env=part_env(config),
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(f"cost: the watcher failed:\n{out.stderr[-2000:]}")
        calls = [c for c in proxy.counts.since(mark) if c.operation != "AssumeRole"]
        delivered = 0
        for entry in json_lines(out.stdout):
            found = re.search(r"(\d+) delivered", str(entry.get("msg", "")))
            if found:
                delivered = int(found.group(1))
        sweeps.append((calls, delivered))
    records = _count_records(stack)
    (first, delivered), (second, _) = sweeps
    lists = sum(1 for c in second if c.operation == "ListObjectsV2")
    steady = total(second)
    receipts = _units_less(total(first), steady, 1.0).scaled(1 / max(1, delivered))
    return {
        "records": records,
        "delivered_in_first_sweep": delivered,
        "per_receipt_units": {k: round(v, 3) for k, v in receipts.__dict__.items()},
        "per_receipt_dollars": receipts.dollars(),
        "steady_sweep_requests": dict(sorted(by_operation(second).items())),
        "steady_sweep_units": {k: round(v, 2) for k, v in steady.__dict__.items()},
        "steady_sweep_dollars": steady.dollars(),
        "lists_per_record_per_sweep": round((lists - 2) / max(1, records), 3),
    }


def _count_records(stack: LocalStack) -> int:
    from shared.aws import Aws

    admin = Aws(stack.admin_settings(), "bench-admin")
    paginator = admin.dynamodb.get_paginator("scan")
    count = 0
    for page in paginator.paginate(
        TableName=stack.outputs["JobsTable"],
        ProjectionExpression="#f",
        ExpressionAttributeNames={"#f": "file"},
    ):
        count += sum(1 for i in page.get("Items", []) if i["file"]["S"].startswith("file-"))
    return count


def _idle_fleet(
    ctx: Context, stack: LocalStack, proxy: CountingProxy, home: Path
) -> dict[str, Any]:
    from infra.local.up import System

    seconds = float(ctx.pick(15, 60))
    systems = [
        System(via(stack, proxy.endpoint(f"idle-{n}")), home / f"idle-{n}") for n in (1, 2, 3)
    ]
    parts = [
        start_fetcher(
            system,
            f"idle-{n}",
            {"processor_url": "http://127.0.0.1:9", "work_dir": str(home / f"idle-w{n}")},
        )
        for n, system in enumerate(systems, 1)
    ]
    try:
        deadline = time.monotonic() + 60
        while not any("reading the job stream" in p.output() for p in parts):
            if time.monotonic() > deadline:
                raise SystemExit("cost: no idle fetcher took the stream lease")
            time.sleep(0.5)
        time.sleep(3.0)
        say(f"cost: three idle fetchers for {seconds:.0f} s")
        mark = proxy.counts.mark()
        time.sleep(seconds)
        calls = proxy.counts.since(mark)
    finally:
        for system in systems:
            system.stop()
    rows = []
    for n in (1, 2, 3):
        mine = [c for c in calls if c.part == f"idle-{n}"]
        units = total(mine).scaled(1 / seconds)
        rows.append(
            {
                "holder": any(c.operation == "GetRecords" for c in mine),
                "requests_per_s": round(len(mine) / seconds, 2),
                "by_operation_per_s": {
                    k.split(": ", 1)[1]: round(v / seconds, 3)
                    for k, v in sorted(by_operation(mine).items())
                },
                "units_per_s": {k: round(v, 4) for k, v in units.__dict__.items()},
                "dollars_per_day": units.dollars() * 86400,
            }
        )
    return {"seconds": seconds, "fetchers": rows, "computed_per_s": computed_idle_rates()}


def computed_idle_rates() -> dict[str, float]:
    """Requests per second of one idle fetcher, from the shipped settings."""
    from shared.config import AwsSettings, FetcherSettings
    from shared.presence import EVERY_SECONDS

    fs, aws = FetcherSettings(), AwsSettings()
    # A fetcher that holds no slot tries again after lease/2 × U(0.5, 1), once per slot.
    try_every = fs.lease_seconds / 2 * 0.75
    return {
        "queue Query (every fetcher)": aws.queue_shards / fs.poll_seconds,
        "presence UpdateItem (every fetcher)": 1 / EVERY_SECONDS,
        "lease UpdateItem, failing (each fetcher without a slot)": fs.stream_readers / try_every,
        "DescribeStream (lease holder, free)": 1 / fs.stream_poll_seconds,
        "GetRecords per shard (lease holder)": 1 / fs.stream_poll_seconds,
        "lease renewal UpdateItem (lease holder)": 3 / fs.lease_seconds,
    }


def prototype_per_day(fleet: int, shards: int = 1) -> float:
    """Every fetcher reads every shard every second (GetRecords; the other calls are free)."""
    return Units(stream_reads=fleet * shards * 86400.0).dollars()


def _summarize(figures: dict[str, Any]) -> Outcome:
    watcher = figures["watcher"]
    idle = figures["idle"]["fetchers"]
    holder = next(r for r in idle if r["holder"])
    others = [r for r in idle if not r["holder"]]
    other_day = sum(r["dollars_per_day"] for r in others) / max(1, len(others))
    fleets = {}
    for n in FLEETS:
        project = holder["dollars_per_day"] + (n - 1) * other_day
        fleets[str(n)] = {
            "project_dollars_per_day": round(project, 4),
            "prototype_dollars_per_day": round(prototype_per_day(n), 4),
        }
    figures["fleets"] = fleets
    # The watcher lists every finished record's chunks at every sweep, and a
    # record stays a week after its job ends: the steady number of records.
    steady_records = JOBS_PER_DAY * RETENTION_SECONDS / 86400
    sweeps_per_day = 86400 / SWEEP_SECONDS
    watcher_day = (
        steady_records * watcher["lists_per_record_per_sweep"] * PRICES.s3_put * sweeps_per_day
    )
    figures["watcher"]["listing_dollars_per_day_at_steady_state"] = round(watcher_day, 2)
    per_thousand = {}
    for label, job in figures["per_job"].items():
        requests = (job["dollars"] + watcher["per_receipt_dollars"]) * 1000
        chunks = storage_dollars(
            job["stored_mib"] / 1024, CHUNK_LIFETIME_SECONDS, PRICES.s3_gb_month
        )
        # The record and its client-index copy, kept a week after the job ends.
        record = storage_dollars(
            2 * (job["record_bytes"] + 100) / 2**30, RETENTION_SECONDS, PRICES.table_gb_month
        )
        per_thousand[label] = {
            "requests": round(requests, 4),
            "storage": round((chunks + record) * 1000, 5),
            "total": round(requests + (chunks + record) * 1000, 4),
        }
        gpu = figures.get("accelerator", {}).get(label)
        if gpu is not None:
            aws = per_thousand[label]["total"]
            for mode, key in (("pipelined", "pipelined"), ("one at a time", "one_at_a_time")):
                per_thousand[label][f"gpu_{key}"] = gpu[mode]["gpu_dollars"]
                per_thousand[label][f"total_with_gpu_{key}"] = round(
                    aws + gpu[mode]["gpu_dollars"], 3
                )
    figures["per_thousand_jobs"] = per_thousand
    with_gpu = ", ".join(
        f"{k} ${v['total_with_gpu_pipelined']:.2f} pipelined vs"
        f" ${v['total_with_gpu_one_at_a_time']:.2f} one at a time"
        for k, v in per_thousand.items()
        if "total_with_gpu_pipelined" in v
    )
    parts = ", ".join(f"{k} ${v['total']:.3f}" for k, v in per_thousand.items())
    headline = (
        f"cost per 1,000 jobs with the accelerator ({GPU_INSTANCE}, 1 s a file): {with_gpu};"
        f" AWS requests + storage alone: {parts};"
        f" idle fleet of 100: ${fleets['100']['project_dollars_per_day']:.2f}/day"
        f" vs prototype ${fleets['100']['prototype_dollars_per_day']:.2f}/day;"
        f" watcher lists {watcher['lists_per_record_per_sweep']:.2f} times per finished record"
        f" per sweep: ${watcher_day:.0f}/day at {JOBS_PER_DAY} jobs/day"
    )
    return Outcome("cost", headline, figures)
