"""``python -m bench.report FIGURES.json``: the figure tables of docs/benchmarks.md.

Reads what ``python -m bench --json FIGURES.json`` wrote and prints each
benchmark's tables in Markdown, so the page's numbers come from one run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.prices import PRICES
from shared.config import FetcherSettings


def table(head: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(head)
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def money(dollars: float) -> str:
    if dollars == 0:
        return "$0"
    if dollars < 0.001:
        return f"${dollars:.6f}"
    return f"${dollars:.4f}" if dollars < 1 else f"${dollars:,.2f}"


def prep(f: dict[str, Any]) -> str:
    rows = [
        ("client (`client.staging.stage`)", f"{f['client_mib_s']} MiB/s"),
        ("`zstd -3 -T1` + `sha256sum` (the reference)", f"{f['reference_mib_s']} MiB/s"),
        ("`zstd -3 -T1` + `openssl dgst -sha256`", f"{f.get('strict_reference_mib_s')} MiB/s"),
        ("`zstd -3 -T1` alone (no hashing)", f"{f['zstd_only_mib_s']} MiB/s"),
    ]
    out = table(("what", f"throughput on {f['file_mib']} MiB (median)"), rows)
    out += (
        f"\n\nClient ÷ reference: **{f['ratio']:.2f}**; ÷ the openssl variant:"
        f" {f.get('ratio_to_strict')}; ÷ zstd alone: {f['ratio_to_zstd_only']}."
        f" Stored: client {f['client_stored_mib']} MiB, zstd {f['zstd_stored_mib']} MiB."
        f" Runs (s): client {f['client_s']}, zstd {f['zstd_s']}, sha256sum {f['sha256sum_s']}."
    )
    return out


def upload(f: dict[str, Any]) -> str:
    rows = []
    for kind in ("mixed", "random"):
        k = f[kind]
        rows.append(
            (
                f"{k['file_mib']} MiB {kind}",
                f"{k['client_upload_s']:.2f} s",
                f"{k['reference_s']:.2f} s",
                f"**{k['speed_ratio']:.2f}**",
                f"{k['client_sent_mib']} / {k['reference_sent_mib']} MiB",
                f"{k['client_requests']} / {k['reference_requests']}",
                f"{k['client_staging_s']:.2f} s",
                f"{k['total_speed_ratio']:.2f}",
            )
        )
    return table(
        (
            "file",
            "client: create + chunks",
            "`upload_file`",
            "speed ratio",
            "bytes sent client / reference",
            "requests",
            "client staging",
            "ratio incl. staging",
        ),
        rows,
    )


def latency(f: dict[str, Any]) -> str:
    rows = [(name, f"{v['median_ms']} ms", f"{v['p95_ms']} ms") for name, v in f["phases"].items()]
    rows.append(("**total**", f"**{f['p50_s'] * 1000:.0f} ms**", f"**{f['p95_s'] * 1000:.0f} ms**"))
    return table(("phase", "median", "p95"), rows)


def throughput(f: dict[str, Any]) -> str:
    rows = [
        (
            r["fetchers"],
            "yes" if r["proxy"] else "no (control)",
            r["jobs"],
            f"{r['seconds']} s",
            f"**{r['jobs_per_minute']}**",
            r.get("scaling_efficiency", ""),
            f"{r['claim_conflicts']} ({r['conflicts_per_job']:.2f})" if r["proxy"] else "",
            r["requests_per_job"] or "",
            r["stack_cpu_s_per_job"],
            f"{r['machine_cpu_busy_percent']} %",
        )
        for r in f["runs"]
    ]
    return table(
        (
            "fetchers",
            "via proxy",
            "jobs",
            "first claim to last result",
            "jobs/min",
            "scaling efficiency",
            "failed claims (per job)",
            "AWS requests per job",
            "local stack CPU s per job",
            "machine CPU busy",
        ),
        rows,
    )


def memory(f: dict[str, Any]) -> str:
    rows = [
        (
            f"{r['mib']} MiB",
            f"{r['client_peak_mib']} MiB",
            f"{r['client_s']} s",
            f"**{r['fetcher_peak_mib']} MiB**",
            f"{r['fetcher_s']} s",
            f"{r.get('reference_peak_mib', '—')} MiB" if "reference_peak_mib" in r else "—",
            f"{r['reference_s']} s" if "reference_s" in r else "—",
        )
        for r in f["sizes"]
    ]
    out = table(
        (
            "file",
            "client peak (`fpw submit`)",
            "client time",
            "fetcher peak (merge)",
            "fetcher time",
            "reference peak",
            "reference time",
        ),
        rows,
    )
    i = f["idle_client"]
    out += (
        f"\n\nIdle `fpw client --headless` over {i['seconds']} s: {i['cpu_seconds']} CPU s"
        f" ({i['cpu_percent']} %), {i['rss_mib']} MiB resident (peak {i['peak_rss_mib']} MiB),"
        f" {i['aws_requests']} AWS requests."
    )
    return out


def cost(f: dict[str, Any]) -> str:
    sections = []
    labels = list(f["per_job"])
    keys = sorted({k for job in f["per_job"].values() for k in job["requests"]})
    rows: list[list[object]] = [
        [k, *(f["per_job"][label]["requests"].get(k, 0) for label in labels)] for k in keys
    ]
    rows.append(
        [
            "watcher: receipt (GetObject, UpdateItem, ListObjectsV2, DeleteObject)",
            *(["1 each"] * len(labels)),
        ]
    )
    sections.append(table(("requests per job", *labels), rows))
    receipt = f["watcher"]["per_receipt_units"]
    thousand = f["per_thousand_jobs"]
    jobs = f["per_job"]
    rows = [
        [
            name.replace("_", " "),
            *(round(jobs[la]["units"][name] + receipt.get(name, 0.0), 2) for la in labels),
        ]
        for name in ("write_units", "read_units", "s3_puts", "s3_gets")
    ]
    rows += [
        ["record size", *(f"{jobs[la]['record_bytes']} B" for la in labels)],
        ["chunk bytes stored", *(f"{jobs[la]['stored_mib']} MiB" for la in labels)],
        ["$ per 1,000 jobs: requests", *(money(thousand[la]["requests"]) for la in labels)],
        ["$ per 1,000 jobs: storage", *(money(thousand[la]["storage"]) for la in labels)],
        ["**$ per 1,000 jobs**", *(f"**{money(thousand[la]['total'])}**" for la in labels)],
    ]
    sections.append(table(("per job, with the watcher's receipt", *labels), rows))
    gpu = f.get("accelerator")
    if gpu:
        rows = []
        for la in (la for la in labels if la in gpu):
            for mode, key in (("pipelined", "pipelined"), ("one at a time", "one_at_a_time")):
                g = gpu[la][mode]
                rows.append(
                    [
                        la,
                        mode,
                        g["busy_fraction"],
                        f"{g['jobs_per_hour']:,}",
                        money(g["gpu_dollars"]),
                        money(thousand[la]["total"]),
                        f"**{money(thousand[la][f'total_with_gpu_{key}'])}**",
                    ]
                )
        gpu_head = ("file", "fetcher", "busy fraction", "jobs/hour", "GPU $", "AWS $")
        # The accelerator first: it is most of the bill.
        sections.insert(
            0,
            table((*gpu_head, "$ per 1,000 jobs"), rows) + f"\n\nGPU: {gpu['price_source']}.",
        )
    w = f["watcher"]
    requests = ", ".join(
        f"{k.split(': ', 1)[1]} {v}" for k, v in w["steady_sweep_requests"].items()
    )
    rows = [
        ["job records in the table", w["records"]],
        ["requests", requests],
        ["ListObjectsV2 per finished record per sweep", w["lists_per_record_per_sweep"]],
        ["cost of this sweep", money(w["steady_sweep_dollars"])],
        [
            "listing cost per day at 1,000 jobs/day (7,000 records, a sweep every 30 s)",
            f"**{money(w['listing_dollars_per_day_at_steady_state'])}**",
        ],
    ]
    sections.append(table(("one steady watcher sweep", "figure"), rows))
    idle = f["idle"]
    rows = [
        [
            f"fetcher {n}{' (lease holder)' if r['holder'] else ''}",
            r["requests_per_s"],
            ", ".join(f"{k} {v}" for k, v in r["by_operation_per_s"].items()),
            money(r["dollars_per_day"]),
        ]
        for n, r in enumerate(idle["fetchers"], 1)
    ]
    head = (f"idle, measured over {idle['seconds']:.0f} s", "requests/s", "by operation (per s)")
    sections.append(table((*head, "$ per day"), rows))
    rows = [[k, round(v, 3)] for k, v in idle["computed_per_s"].items()]
    sections.append(table(("idle, computed from the shipped settings", "per s"), rows))
    readers = FetcherSettings().stream_readers
    rows = [
        [
            n,
            money(v["project_dollars_per_day"]),
            money(v["prototype_dollars_per_day"]),
            min(int(n), readers),
            n,
        ]
        for n, v in f["fleets"].items()
    ]
    head = ("idle fleet of N", "project: $ per day", "prototype: $ per day")
    sections.append(table((*head, "stream readers, project", "prototype"), rows))
    p = PRICES
    sections.append(
        f"Prices: {f['prices']}; write unit ${p.write_unit * 1e6:.3f}/million,"
        f" read unit ${p.read_unit * 1e6:.3f}/million,"
        f" GetRecords ${p.stream_read * 1e6:.2f}/million,"
        f" S3 PUT/LIST ${p.s3_put * 1e3:.4f}/1,000, GET ${p.s3_get * 1e3:.4f}/1,000,"
        f" PutMetricData ${p.metric_put * 1e3:.2f}/1,000, S3 storage ${p.s3_gb_month}/GB-month,"
        f" table storage ${p.table_gb_month}/GB-month."
    )
    return "\n\n".join(sections)


RENDER: dict[str, Callable[[dict[str, Any]], str]] = {
    "prep": prep,
    "upload": upload,
    "latency": latency,
    "latency-containers": latency,
    "throughput": throughput,
    "memory": memory,
    "cost": cost,
}


def main(path: Path) -> None:
    report = json.loads(path.read_text(encoding="utf-8"))
    m = report["machine"]
    print(
        f"Machine: {m['cores']} × {m['cpu']}, {m['memory_gib']:.0f} GiB, Python {m['python']};"
        f" load at start {m['load'][0]:.2f} (1 min); the run took {report['seconds']} s.\n"
    )
    for name, figures in report["results"].items():
        print(f"### {name}\n\n{figures['headline']}\n")
        render = RENDER.get(name)
        if render is not None:
            print(render(figures) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.report FIGURES.json")
    main(Path(sys.argv[1]))
