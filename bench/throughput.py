"""Jobs per minute with 1, 2 and 4 fetchers and an instant processor; claim conflicts.

A backlog of small jobs (100 KB of text each, one chunk) is made with the
client's own staging and signing, chunks uploaded before the records are
created, so that no fetcher ever waits for data. Then N fetcher processes
(shipped defaults) start against it, all sharing one instant processor, and
the rate is jobs over the time from the first claim to the last completion
(the records' ``assigned`` and ``processed``). Scaling efficiency is
rate(N) / (N × rate(1)).

Every fetcher reaches the local stack through the counting proxy
(``bench.proxy``): a claim whose condition fails there is a claim conflict.
The proxy costs some throughput itself, so one fetcher also runs without it
as a control.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    Context,
    Outcome,
    json_lines,
    machine_cpu,
    process_cpu_seconds,
    say,
    start_fetcher,
    start_instant_processor,
    via,
)
from bench.data import Text

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from bench.proxy import CountingProxy
    from infra.local.stack import LocalStack
    from infra.local.up import Part
    from shared.aws import Aws
    from shared.record import Job

FLEETS = (1, 2, 4)
FILE_BYTES = 100 * 1000


@dataclass
class Made:
    job: Job


def make_backlog(
    aws: Aws,
    key: ec.EllipticCurvePrivateKey,
    count: int,
    home: Path,
    file_bytes: int = FILE_BYTES,
    incompressible: bool = False,
) -> list[Made]:
    """Stage, sign and upload ``count`` jobs of ``file_bytes`` (text, or random bytes
    when ``incompressible``); their records are not created yet. Each job's file and
    chunks are removed once uploaded: 40 jobs of 100 MiB would otherwise keep 8 GiB
    on disk a run."""
    from client.staging import stage
    from shared import signing
    from shared.record import chunk_key, new_file_id

    text = Text(seed=11)
    me = signing.client_id(key.public_key())
    made = []
    for n in range(count):
        source = home / f"note-{n:04d}.txt"
        source.write_bytes(os.urandom(file_bytes) if incompressible else text.block(file_bytes))
        file_id = new_file_id()
        staged = stage(source, home / "spool" / file_id, 8 * 1024 * 1024, 3)
        job = staged.job(file_id, me, aws.settings.bucket, aws.settings.queue_shards, n, {})
        signing.sign_job(job, key)
        for c in range(job.chunks):
            aws.s3.put_object(
                Bucket=job.bucket,
                Key=chunk_key(me, file_id, c),
                Body=(home / "spool" / file_id / str(c)).read_bytes(),
            )
        source.unlink()
        shutil.rmtree(home / "spool" / file_id)
        made.append(Made(job))
    return made


def completed(parts: list[Part]) -> int:
    return sum(
        1
        for part in parts
        for entry in json_lines(part.output())
        if str(entry.get("msg", "")).startswith("completed")
    )


def fleet_run(
    ctx: Context,
    stack: LocalStack,
    proxy: CountingProxy | None,
    fleet: int,
    jobs: int,
    key: ec.EllipticCurvePrivateKey,
) -> dict[str, Any]:
    from infra.local.up import System
    from shared.aws import Aws
    from shared.record import parse_iso
    from shared.table import JobTable

    label = f"{fleet}{'' if proxy else '-direct'}"
    home = ctx.folder(f"throughput/{label}")
    reached = via(stack, proxy.endpoint("fetcher")) if proxy else stack
    system = System(reached, home / "system")
    client_aws = Aws(stack.role_settings("client"), "bench-client")
    table = JobTable(client_aws.dynamodb, stack.outputs["JobsTable"])
    say(f"throughput: {fleet} fetcher(s){'' if proxy else ' without the proxy'}: {jobs} jobs")
    backlog = make_backlog(client_aws, key, jobs, home)
    for made in backlog:
        table.create(made.job)
    mark = proxy.counts.mark() if proxy else 0
    assert stack.process is not None
    stack_cpu = process_cpu_seconds(stack.process.pid)
    busy, total = machine_cpu()
    try:
        start_instant_processor(system)
        parts = [
            start_fetcher(
                system,
                f"fetcher-{n}",
                {"processor_url": system.processor_url, "work_dir": str(home / f"work-{n}")},
            )
            for n in range(1, fleet + 1)
        ]
        deadline = time.monotonic() + 300
        while completed(parts) < jobs:
            dead = [p.name for p in parts if not p.alive()]
            if dead or time.monotonic() > deadline:
                raise SystemExit(f"throughput: stalled ({dead}):\n{parts[0].output()[-2000:]}")
            time.sleep(0.5)
        stack_cpu = process_cpu_seconds(stack.process.pid) - stack_cpu
        busy, total = (
            now - before for now, before in zip(machine_cpu(), (busy, total), strict=True)
        )
    finally:
        system.stop()
    calls = proxy.counts.since(mark) if proxy else []
    admin = JobTable(Aws(stack.admin_settings(), "bench-admin").dynamodb, table.table)
    records = [admin.get(made.job.file) for made in backlog]
    assert all(r is not None and r.assigned and r.processed for r in records)
    first = min(parse_iso(r.assigned).timestamp() for r in records if r and r.assigned)
    last = max(parse_iso(r.processed).timestamp() for r in records if r and r.processed)
    per_minute = jobs / (last - first) * 60
    claims = [c for c in calls if c.operation == "UpdateItem (claim)"]
    lost = sum(1 for c in claims if not c.ok)
    return {
        "fetchers": fleet,
        "proxy": proxy is not None,
        "jobs": jobs,
        "seconds": round(last - first, 1),
        "jobs_per_minute": round(per_minute),
        "claims": len(claims),
        "claim_conflicts": lost,
        "conflicts_per_job": round(lost / jobs, 2),
        "requests_per_job": round(len(calls) / jobs, 1) if proxy else None,
        # Over the whole run (start-up included): who had the CPU.
        "stack_cpu_s_per_job": round(stack_cpu / jobs, 3),
        "machine_cpu_busy_percent": round(100 * busy / total),
    }


def run(ctx: Context) -> Outcome:
    from bench.proxy import CountingProxy
    from infra.admin import register_client
    from shared.keys import load_or_create_key
    from shared.signing import client_id

    jobs = ctx.pick(16, 100)
    stack = ctx.stack()
    home = ctx.folder("throughput")
    key = load_or_create_key(home / "key")
    register_client(stack.admin_settings(), client_id(key.public_key()), "bench throughput")
    proxy = CountingProxy(stack.endpoint)
    rows = []
    try:
        rows.append(fleet_run(ctx, stack, None, 1, jobs, key))
        for fleet in FLEETS:
            rows.append(fleet_run(ctx, stack, proxy, fleet, jobs, key))
    finally:
        proxy.close()
    base = next(r for r in rows if r["proxy"] and r["fetchers"] == 1)["jobs_per_minute"]
    for row in rows:
        if row["proxy"]:
            row["scaling_efficiency"] = round(row["jobs_per_minute"] / (row["fetchers"] * base), 2)
    direct = rows[0]["jobs_per_minute"]
    parts = ", ".join(
        f"{r['fetchers']}: {r['jobs_per_minute']}/min"
        f" (eff. {r['scaling_efficiency']:.2f}, {r['conflicts_per_job']:.2f} conflicts/job)"
        for r in rows
        if r["proxy"]
    )
    headline = (
        f"throughput ({jobs} jobs, instant processor) by fetchers: {parts};"
        f" 1 fetcher without the proxy: {direct}/min"
    )
    return Outcome("throughput", headline, {"runs": rows})
