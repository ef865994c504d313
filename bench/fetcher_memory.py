"""Peak memory of the fetcher's download-verify-decompress-merge against file size.

Method: start the local stack, send files of growing size with the real
client engine (8 MiB chunks, zstd), then merge each job in a fresh process
with the fetcher role and read that process's peak RSS. The reference is the
prototype's way, in the same run: download every chunk into memory,
decompress, join and hash. Run: ``python -m bench.fetcher_memory [MiB ...]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

CHILD = r"""
import hashlib, json, resource, sys, threading, time
from pathlib import Path
from shared.aws import Aws
from shared.config import AwsSettings
from shared.record import Job, chunk_key
from shared.chunks import decompress_into

aws_settings, job_data, mode, target = json.loads(sys.argv[1])
aws = Aws(AwsSettings(**aws_settings), "bench-fetcher")
job = Job(**job_data)
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
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mib": peak_kib / 1024, "seconds": seconds}))
"""


def make_file(path: Path, mib: int) -> None:
    """Half random, half zeros per MiB: compresses about 2:1, like many scans."""
    with path.open("wb") as fh:
        for _ in range(mib):
            fh.write(os.urandom(512 * 1024) + bytes(512 * 1024))


def main(sizes: list[int]) -> None:
    from client.engine import Engine
    from infra.admin import register_client
    from infra.localstack import start_local_stack
    from shared.aws import Aws
    from shared.config import Settings

    with tempfile.TemporaryDirectory(prefix="fpw-bench-") as tmp:
        home = Path(tmp)
        stack = start_local_stack(home / "stack")
        try:
            settings = Settings()
            settings.aws = stack.role_settings("client")
            settings.client.state_dir = home / "client"
            settings.client.inbox = home / "inbox"
            engine = Engine(settings, Aws(settings.aws, "bench-client"))
            register_client(stack.admin_settings(), engine.client_id, "bench")
            fetcher_aws = stack.role_settings("fetcher")
            rows = []
            for mib in sizes:
                source = home / f"file-{mib}.bin"
                make_file(source, mib)
                started = time.monotonic()
                file_id = engine.submit(source, {})
                assert file_id
                drop = engine.wait_uploaded(file_id, 3600)
                upload = time.monotonic() - started
                assert drop.job is not None
                row: dict[str, float | int] = {"mib": mib, "upload_s": round(upload, 1)}
                for mode in ("streaming", "reference"):
                    target = home / f"merged-{mode}"
                    argv = json.dumps([asdict(fetcher_aws), drop.job, mode, str(target)])
                    out = subprocess.run(
                        [sys.executable, "-c", CHILD, argv],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if out.returncode != 0:
                        raise SystemExit(f"{mode} merge failed:\n{out.stderr[-2000:]}")
                    figures = json.loads(out.stdout.strip().splitlines()[-1])
                    row[f"{mode}_peak_mib"] = round(figures["peak_mib"])
                    row[f"{mode}_s"] = round(figures["seconds"], 1)
                    target.unlink()
                row["memory_ratio"] = round(
                    float(row["reference_peak_mib"]) / float(row["streaming_peak_mib"]), 1
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
                source.unlink()
            engine.stop()
        finally:
            stack.stop()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [64, 256, 1024])
