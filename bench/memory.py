"""Peak memory of the client and the fetcher against file size; the idle client.

Sending: ``fpw submit FILE`` (stage, create the job, upload, exit once
uploaded) in a fresh process with the client role.

Merging: each stored job is merged in a fresh Python process with the
fetcher role (``fetcher.transfer.merge``: download, verify, decompress,
write). The reference, in
the same run and on the same stored chunks, is the prototype's way:
download every chunk into memory, decompress, join, hash, write; it runs up
to 1 GiB (beyond that it only needs more memory, about twice the file).

Idle: ``fpw client --headless`` watching an empty folder, through the
counting proxy; after start-up settles, CPU seconds (from /proc) and AWS
requests over a minute, and its resident memory.

Peaks are the kernel's high-water mark of each process's own memory
(``VmHWM`` in /proc, read by the process as it exits). ``getrusage``'s
``ru_maxrss`` is not used: Linux carries it across ``exec``, so a child
reports at least the resident size of the process that started it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    Context,
    Outcome,
    forget_jobs,
    part_env,
    process_cpu_seconds,
    process_memory_mib,
    say,
    verdict,
    via,
)
from bench.data import write_mixed

if TYPE_CHECKING:
    from infra.local.stack import LocalStack

TARGET_MIB = 250
REFERENCE_UP_TO_MIB = 1024
# No keyring on the bench machine is touched: keys live in the profile folder.
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

# Run as ``python -c WRAP ARGS``: ``fpw ARGS``, then the peak on stderr.
WRAP = r"""
import atexit, sys
def peak():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                sys.stderr.write(f"\nVmHWM-kib {line.split()[1]}\n")
atexit.register(peak)
from shared.cli import main
sys.argv = ["fpw", *sys.argv[1:]]
sys.exit(main())
"""

CHILD = r"""
import hashlib, json, sys, threading, time
from pathlib import Path
from shared.aws import Aws
from shared.config import AwsSettings
from shared.record import Job, Status, chunk_key
from shared.chunks import decompress_into

aws_settings, job_data, mode, target = json.loads(sys.argv[1])
aws = Aws(AwsSettings(**aws_settings), "bench-fetcher")
job = Job(**{**job_data, "status": Status(job_data["status"])})
started = time.monotonic()
if mode == "streaming":
    from fetcher.transfer import merge
    merge(aws.s3, job, Path(target), wait_seconds=5, concurrency=4, cancelled=threading.Event())
else:  # the reference: everything in memory
    parts = []
    for n in range(job.chunks):
        stored = aws.s3.get_object(Bucket=job.bucket, Key=chunk_key(job.client, job.file, n))[
            "Body"
        ].read()
        assert hashlib.sha256(stored).hexdigest() == job.chunk_sha256[n]
        out = bytearray()
        class Sink:
            def write(self, data):
                out.extend(data)
                return len(data)
        decompress_into(stored, job.compression, Sink(), job.size, job=job.file)
        parts.append(bytes(out))
    whole = b"".join(parts)
    assert hashlib.sha256(whole).hexdigest() == job.sha256
    Path(target).write_bytes(whole)
seconds = time.monotonic() - started
with open("/proc/self/status") as fh:
    peak_kib = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
print(json.dumps({"peak_mib": peak_kib / 1024, "seconds": seconds}))
"""


def _client_config(stack: LocalStack, home: Path, inbox: Path, state_dir: Path) -> Path:
    from infra.local.up import aws_table
    from shared.config import dump_toml

    config = home / "client.toml"
    config.write_text(
        dump_toml(
            {
                "aws": aws_table(stack.role_settings("client")),
                "client": {"inbox": str(inbox), "state_dir": str(state_dir)},
            }
        ),
        encoding="utf-8",
    )
    return config


def _submit(config: Path, source: Path) -> tuple[str, float, float]:
    """(job id, peak MiB, seconds) of ``fpw submit`` sending ``source``."""
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", WRAP, "submit", str(source)],
        env={**part_env(config), **NO_KEYRING},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if out.returncode != 0:
        raise SystemExit(f"memory: fpw submit failed:\n{out.stderr[-2000:]}")
    found = re.search(r"as (file-[0-9a-f-]{36})", out.stderr)
    peak = re.search(r"VmHWM-kib (\d+)", out.stderr)
    assert found and peak, out.stderr
    return found.group(1), int(peak.group(1)) / 1024, seconds


def _merge(aws_settings: dict[str, Any], job: dict[str, Any], mode: str, target: Path) -> Any:
    argv = json.dumps([aws_settings, job, mode, str(target)], default=str)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, argv], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"memory: {mode} merge failed:\n{out.stderr[-2000:]}")
    target.unlink(missing_ok=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sizes(ctx: Context) -> list[int]:
    pairs = ((32, 256), (64, 1024)) if ctx.quick else ((32, 256), (64, 1024), (64, 2048))
    return [ctx.pick(q, f, multiple=4) for q, f in pairs]


def run(ctx: Context) -> Outcome:
    from infra.admin import register_client
    from shared.aws import Aws
    from shared.keys import load_or_create_key
    from shared.signing import client_id
    from shared.table import JobTable

    stack = ctx.stack()
    home = ctx.folder("memory")
    state_dir = home / "state"
    me = client_id(load_or_create_key(state_dir).public_key())
    register_client(stack.admin_settings(), me, "bench memory")
    config = _client_config(stack, home, home / "inbox", state_dir)
    admin = Aws(stack.admin_settings(), "bench-admin")
    table = JobTable(admin.dynamodb, stack.outputs["JobsTable"])
    fetcher_aws = asdict(stack.role_settings("fetcher"))
    rows: list[dict[str, Any]] = []
    for mib in sizes(ctx):
        source = home / f"file-{mib}.bin"
        say(f"memory: {mib} MiB: sending with fpw submit")
        write_mixed(source, mib)
        file_id, client_peak, client_s = _submit(config, source)
        job = table.get(file_id)
        assert job is not None
        row: dict[str, Any] = {
            "mib": mib,
            "client_peak_mib": round(client_peak),
            "client_s": round(client_s, 1),
        }
        modes = ["streaming"] + (["reference"] if mib <= REFERENCE_UP_TO_MIB else [])
        for mode in modes:
            say(f"memory: {mib} MiB: {mode} merge")
            figures = _merge(fetcher_aws, asdict(job), mode, home / "merged")
            name = "fetcher" if mode == "streaming" else "reference"
            row[f"{name}_peak_mib"] = round(figures["peak_mib"])
            row[f"{name}_s"] = round(figures["seconds"], 1)
        if "reference_peak_mib" in row:
            row["reference_over_fetcher"] = round(
                row["reference_peak_mib"] / row["fetcher_peak_mib"], 1
            )
        rows.append(row)
        say(f"memory: {json.dumps(row)}")
        source.unlink()
        forget_jobs(stack, me, [file_id])
    idle = _idle_client(ctx, stack, home)
    largest = rows[-1]
    met = (
        largest["client_peak_mib"] < TARGET_MIB
        and largest["fetcher_peak_mib"] < TARGET_MIB
        and _flat([r["fetcher_peak_mib"] for r in rows])
        and _flat([r["client_peak_mib"] for r in rows])
    )
    headline = (
        f"memory {largest['mib']} MiB: client peak {largest['client_peak_mib']} MiB,"
        f" fetcher peak {largest['fetcher_peak_mib']} MiB"
        f" (target flat and < {TARGET_MIB} MiB: {verdict(met)});"
        f" idle client {idle['cpu_percent']:.2f} % CPU, {idle['rss_mib']:.0f} MiB,"
        f" {idle['aws_requests']} AWS requests in {idle['seconds']} s"
    )
    return Outcome("memory", headline, {"sizes": rows, "idle_client": idle}, met)


def _flat(peaks: list[int]) -> bool:
    """Flat: the largest file costs at most a tenth more than the smallest's peak + 20 MiB."""
    return max(peaks) <= min(peaks) * 1.1 + 20


def _idle_client(ctx: Context, stack: LocalStack, home: Path) -> dict[str, Any]:
    from bench.proxy import CountingProxy
    from infra.admin import register_client
    from infra.local.up import Part
    from shared.keys import load_or_create_key
    from shared.signing import client_id

    seconds = ctx.pick(10, 60)
    proxy = CountingProxy(stack.endpoint)
    quiet = via(stack, proxy.endpoint("client"))
    state_dir = home / "idle-state"
    me = client_id(load_or_create_key(state_dir).public_key())
    register_client(stack.admin_settings(), me, "bench idle")
    config = _client_config(quiet, home, home / "idle-inbox", state_dir)
    argv = [sys.executable, "-m", "shared.cli", "client", "--headless"]
    part = Part("idle-client", argv, {**part_env(config), **NO_KEYRING}, home / "logs", echo=False)
    try:
        deadline = time.monotonic() + 60
        while "watching" not in part.output():
            if not part.alive() or time.monotonic() > deadline:
                raise SystemExit(f"memory: the idle client did not start:\n{part.output()}")
            time.sleep(0.2)
        say(f"memory: idle client for {seconds} s")
        time.sleep(5)  # start-up work (the first resume, credentials) settles
        pid = part.proc.pid
        mark = proxy.counts.mark()
        cpu_before = process_cpu_seconds(pid)
        time.sleep(seconds)
        cpu = process_cpu_seconds(pid) - cpu_before
        requests = len(proxy.counts.since(mark))
        rss, peak = process_memory_mib(pid)
    finally:
        part.stop()
        proxy.close()
    return {
        "seconds": seconds,
        "cpu_seconds": round(cpu, 2),
        "cpu_percent": round(100 * cpu / seconds, 2),
        "rss_mib": round(rss),
        "peak_rss_mib": round(peak),
        "aws_requests": requests,
    }
