"""``python -m bench scale``: a model of the fleet at 10 to 1,000 fetchers against
AWS's limits (discrete-event, deterministic by seed, no AWS and no local stack).

It prints its calibration against the local stack's measurements, then its
tables (markdown) and returns the figures; docs/scale.md explains them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any

from bench.common import Context, Outcome
from bench.prices import PRICES
from bench.scale import aws
from bench.scale.model import Design, Workload
from bench.scale.report import (
    FLEETS,
    LOADS,
    Row,
    calibrate,
    capacity,
    designs,
    figures_of,
    idle_per_hour,
    ladder,
    measure,
    operator_rows,
    sweep_figures,
)
from fetcher.polling import claim_spread


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _limit(row: Row) -> str:
    top = row.aws_top[0]
    return f"{top.limit.name}, {top.where}: {top.ratio:.2f}"


def _rows(rows: list[Row]) -> list[list[Any]]:
    return [
        [
            r.fetchers,
            f"{r.rate:g}",
            f"{r.sustained:.1f}",
            r.queued_end,
            f"{r.failed_claims:.2f}",
            f"{r.stale_picks:.1f}",
            f"{r.requests_per_1000:,.0f}",
            f"${r.dollars_per_1000 - r.gpu_dollars_per_1000 - r.sweep_dollars_per_1000:.3f}",
            f"${r.sweep_dollars_per_1000:.4f}",
            f"${r.dollars_per_1000:.2f}",
            _limit(r),
        ]
        for r in rows
    ]


HEAD = [
    "fetchers",
    "arrivals/s",
    "jobs/s sustained",
    "queued at end",
    "failed claims/job",
    "taken candidates read/job",
    "requests/1,000 jobs",
    "$/1,000 jobs, AWS requests",
    "$/1,000 jobs, watcher's reads",
    "$/1,000 jobs, all with GPU",
    "nearest AWS limit: use/limit",
]


def operator_table(workload: Workload) -> tuple[str, list[list[Any]]]:
    """The fleet and settings for each of a few loads, as a markdown table."""
    op_rows: list[list[Any]] = []
    for n, rate, r in operator_rows(workload):
        top = r.aws_top[0]
        op_rows.append(
            [
                f"{rate:g}",
                f"{rate * 86400:,.0f}",
                f"{n:,}",
                f"{claim_spread(n):,}",
                f"{r.sustained:.1f}",
                f"{r.latency_p50:.1f}",
                f"${r.dollars_per_1000 - r.gpu_dollars_per_1000 - r.sweep_dollars_per_1000:.3f}",
                f"${r.sweep_dollars_per_1000:.4f}",
                f"${r.gpu_dollars_per_1000:.2f}",
                f"${n * PRICES.gpu_hour:,.2f}",
                f"{top.limit.name}, {top.where}: {top.ratio:.2f}",
            ]
        )
    head = (
        "\n### A fleet for a load (5 s mean processing, 1 MiB files; MaxTasks = fetchers,"
        " claim spread from fetcher.fleet_size)\n"
    )
    return head + "\n" + (
        table(
            [
                "jobs/s",
                "jobs/day",
                "fetchers (MaxTasks)",
                "claim spread",
                "jobs/s sustained",
                "p50 drop-to-result s",
                "$/1,000 jobs, AWS requests",
                "$/1,000 jobs, watcher's reads",
                "$/1,000 jobs, GPU",
                "GPU $/h at full size",
                "nearest AWS limit: use/limit",
            ],
            op_rows,
        )
    ), op_rows


def run(ctx: Context) -> Outcome:
    began = time.monotonic()
    figures: dict[str, Any] = {}
    out: list[str] = []

    say("scale: calibration against the local stack's measurements")
    checks = calibrate(seeds=3 if ctx.quick else 5)
    out.append("### Calibration (local stack model against docs/benchmarks.md)\n")
    out.append(
        table(
            ["figure", "model", "measured", "tolerance", "within"],
            [
                [
                    c.what,
                    f"{c.model:.2f}",
                    f"{c.measured:.2f}",
                    f"±{c.tolerance:.0%}" if c.relative else f"±{c.tolerance:.2f}",
                    "yes" if c.ok else "NO",
                ]
                for c in checks
            ],
        )
    )
    figures["calibration"] = {c.what: [round(c.model, 3), c.measured, c.ok] for c in checks}

    workload = Workload(rate=1.0)
    fleets = FLEETS[:2] if ctx.quick else FLEETS
    every = designs()
    before, after = every[0], every[-1]
    for design in (before, after):
        say(f"scale: steady arrivals, {design.name}")
        rows = ladder(fleets, LOADS, design, workload)
        out.append(f"\n### Steady arrivals, {design.name} (5 s mean processing, 1 MiB files)\n")
        out.append(table(HEAD, _rows(rows)))
        figures[f"steady {design.name}"] = [figures_of(r) for r in rows]
        for n in fleets:
            crossed = [r for r in rows if r.fetchers == n and r.aws_top[0].ratio > 1]
            short = [r for r in rows if r.fetchers == n and r.sustained < 0.9 * r.rate]
            first = crossed[0].aws_top[0] if crossed else None
            figures[f"first limit {design.name} {n}"] = (
                f"{first.limit.name} ({first.where}) x{first.ratio:.2f} at"
                f" {crossed[0].rate:g} jobs/s"
                if first and crossed
                else "none of AWS's within the fleet's capacity"
            ) + (
                f"; the fleet sustains under 90% of arrivals from {short[0].rate:g} jobs/s"
                if short
                else ""
            )

    n_key = fleets[-1]
    rate_key = round(capacity(n_key, workload) * 0.8, 2)
    say(f"scale: design changes at {n_key} fetchers, {rate_key} jobs/s")
    change_rows: list[list[Any]] = []
    for design in every:
        r = measure(
            n_key, replace(workload, rate=rate_key), design, 40.0 if n_key >= 1000 else 60.0
        )
        idle = idle_per_hour(n_key, design, 30.0)
        change_rows.append(
            [
                design.name,
                f"{r.sustained:.1f}",
                f"{r.failed_claims:.2f}",
                f"{r.stale_picks:.1f}",
                f"{r.requests_per_1000:,.0f}",
                f"${r.dollars_per_1000 - r.gpu_dollars_per_1000 - r.sweep_dollars_per_1000:.3f}",
                f"${r.sweep_dollars_per_1000:.4f}",
                f"{r.latency_p50:.2f}",
                f"{idle['requests_per_second']:,.0f}",
                f"${idle['requests']:.2f}",
            ]
        )
        figures[f"change {design.name}"] = {**figures_of(r), "idle": idle}
    out.append(f"\n### Design changes, {n_key} fetchers at {rate_key:g} jobs/s (0.8 of capacity)\n")
    out.append(
        table(
            [
                "design",
                "jobs/s sustained",
                "failed claims/job",
                "taken candidates read/job",
                "requests/1,000 jobs",
                "$/1,000 jobs, AWS requests",
                "$/1,000 jobs, watcher's reads",
                "p50 drop-to-result s",
                "idle requests/s",
                "idle AWS $/h",
            ],
            change_rows,
        )
    )

    say("scale: a fleet for each load")
    text, op_rows = operator_table(workload)
    out.append(text)
    figures["operator"] = op_rows

    say("scale: one desktop drops 10,000 files")
    drop_rows: list[list[Any]] = []
    for result_bytes in (300, 30_000):
        for narrow in (False, True):
            design = after.but(client_index_narrow=narrow)
            load = Workload(rate=0.0, shape="drop", result_bytes=result_bytes)
            n = 100
            r = measure(n, load, design, 120.0)
            key = [p for p in r.top if "client-index key" in p.where and "write" in p.limit.name]
            reads = [p for p in r.top if "client-index key" in p.where and "read" in p.limit.name]
            drop_rows.append(
                [
                    f"{result_bytes:,} B",
                    "status, progress" if narrow else "ALL",
                    f"{key[0].used:,.0f}" if key else "0",
                    f"{key[0].ratio:.2f}" if key else "0",
                    f"{reads[0].used:,.0f}" if reads else "0",
                    ", ".join(f"{p.limit.name} x{p.ratio:.2f}" for p in r.crossed) or "none",
                ]
            )
    out.append("\n### One desktop's 10,000-file drop (30 files/s, 100 fetchers, first 120 s)\n")
    out.append(
        table(
            [
                "result size",
                "client-index projection",
                "peak write units/s, the desktop's key",
                "of the 1,000 limit",
                "peak read units/s, same key",
                "limits crossed",
            ],
            drop_rows,
        )
    )
    figures["drop"] = drop_rows

    say("scale: bursts")
    burst = ladder(fleets[1:2], (0.5,), after, replace(workload, shape="bursts"))
    out.append("\n### Bursts (five times the mean rate for 12 s of every minute), after\n")
    out.append(table(HEAD, _rows(burst)))
    figures["bursts"] = [figures_of(r) for r in burst]

    say("scale: idle fleets")
    idle_rows = []
    for n in fleets:
        b = idle_per_hour(n, before, 30.0)
        a = idle_per_hour(n, after, 30.0)
        idle_rows.append(
            [
                n,
                f"{b['requests_per_second']:,.0f}",
                f"${b['requests']:.3f}",
                f"{a['requests_per_second']:,.0f}",
                f"${a['requests']:.3f}",
                f"${a['gpu']:,.2f}",
            ]
        )
    out.append("\n### Idle fleet, per hour\n")
    out.append(
        table(
            [
                "fetchers",
                "requests/s before",
                "AWS $/h before",
                "requests/s after",
                "AWS $/h after",
                "GPU instances $/h (g4dn.xlarge)",
            ],
            idle_rows,
        )
    )
    figures["idle"] = idle_rows

    sweep_rows = []
    for rate in (0.01, 0.1, 0.5, 1.0, 10.0, 100.0):
        s = sweep_figures(rate, Design.shipped().but(sweep_indexed=False))
        x = sweep_figures(rate, Design.shipped())
        sweep_rows.append(
            [
                f"{rate:g}",
                f"{rate * 86400:,.0f}",
                f"{s['records']:,.0f}",
                f"{s['read_units']:,.0f}",
                f"{s['seconds']:,.1f}",
                f"${s['dollars_per_hour'] * 24:,.2f}",
                f"{x['records']:,.0f}",
                f"{x['read_units']:,.0f}",
                f"{x['seconds']:,.2f}",
                f"${x['dollars_per_hour'] * 24:,.2f}",
            ]
        )
    out.append(
        "\n### The watcher's reads at steady state, before (a Scan of the week's records"
        " each sweep) and after (the indexes; and a Scan a day, in $/day): 1 MB Scan page"
        f" every {aws.SCAN_PAGE_SECONDS.value} s, assumed\n"
    )
    out.append(
        table(
            [
                "jobs/s",
                "jobs/day",
                "records read/sweep before",
                "read units/sweep before",
                "sweep s before",
                "$/day before",
                "records read/sweep after",
                "read units/sweep after",
                "sweep s after",
                "$/day after",
            ],
            sweep_rows,
        )
    )
    figures["sweep"] = sweep_rows

    print("\n".join(out), flush=True)
    ok = sum(c.ok for c in checks)
    key = figures.get(f"first limit {after.name} {n_key}", "")
    headline = (
        f"scale  calibration {ok}/{len(checks)} within tolerance; {n_key} fetchers after the"
        f" changes: {key}; {time.monotonic() - began:.0f} s"
    )
    return Outcome("scale", headline, figures, met=ok == len(checks))
