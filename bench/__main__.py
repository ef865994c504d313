"""``python -m bench [--quick] [NAME ...]``: run the benchmarks, print their ratios.

Each benchmark prints one headline line (the project against its reference,
as a ratio, and whether the target is met) and its figures as JSON; progress
goes to stderr. ``--json FILE`` also writes every figure, with the machine
and its load, to FILE. See docs/benchmarks.md for method and results.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Context, Outcome, machine
from bench.fleets import CHOICES, check, labelled, runs

# In the order a full run takes them (cheapest first).
BENCHMARKS = {
    "prep": "client preparation (chunk, compress, hash) vs zstd + sha256sum",
    "upload": "client upload vs boto3 upload_file to the local stack",
    "latency": "drop-to-result latency with an instant processor, by phase; before vs after",
    "throughput": "jobs per minute with 1, 2 and 4 fetchers; claim conflicts",
    "memory": "fetcher and client peak memory against file size; idle client",
    "cost": "AWS requests per job, measured; dollars per 1,000 jobs; idle fleets",
    "scale": "a model of the fleet at 10 to 1,000 fetchers against AWS's limits (no stack)",
    "utilization": "analysis container busy fraction, pipelined fetcher vs one job at a time",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply file sizes, file and job counts and idle windows (e.g. 4)",
    )
    parser.add_argument(
        "--fleet",
        choices=CHOICES,
        default="processes",
        help="latency only: the parts as processes (default), in containers"
        " (podman or docker, images from `fpw images build`), or both in turn",
    )
    parser.add_argument("--json", type=Path, help="also write all figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    here = machine()
    print(f"machine: {here.describe()}", flush=True)
    home = Path(tempfile.mkdtemp(prefix="fpw-bench-"))
    ctx = Context(home, quick=args.quick, scale=args.scale)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    try:
        check(args.fleet, names, home)
        for name in names:
            for fleet in runs(name, args.fleet):
                print(f"== {name}: {BENCHMARKS[name]} ({fleet})", file=sys.stderr, flush=True)
                module = importlib.import_module(f"bench.{name}")
                ctx.fleet = fleet
                began = time.monotonic()
                outcome: Outcome = labelled(module.run(ctx), fleet)
                outcome.figures["bench_seconds"] = round(time.monotonic() - began)
                outcomes.append(outcome)
                print(outcome.headline, flush=True)
                print(json.dumps({outcome.name: outcome.figures}, default=str), flush=True)
                shutil.rmtree(home / name, ignore_errors=True)
    finally:
        ctx.close()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    total = time.monotonic() - started
    print(f"done in {total:.0f} s; load now {machine().load[0]:.2f}", flush=True)
    if args.json:
        report: dict[str, Any] = {
            "machine": here.__dict__,
            "quick": args.quick,
            "scale": args.scale,
            "seconds": round(total),
            "results": {
                o.name: {"headline": o.headline, "met": o.met, **o.figures} for o in outcomes
            },
        }
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
