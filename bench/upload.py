"""Upload to the local stack: the client engine against boto3's ``upload_file``.

Client: the engine itself (client role), given a staged drop: the time from
its "staged" event to its "uploaded" one is creating the job record and
putting every chunk, as it does for every drop (``client.upload_concurrency``
chunks in parallel). Preparing the chunks is timed apart (see ``bench
prep``), and the total is reported too.

Reference, in the same run, to the same endpoint with the same role:
``upload_file`` (s3transfer, default settings: 8 MiB multipart parts, ten
threads) of the original file. Bytes sent are the request bodies each side
put on the wire, counted from botocore's ``before-send`` event on the two
clients (nothing in the product is changed for it). Two files: the mixed
data of ``bench prep`` (compressible) and random bytes (stored raw).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import Context, MiB, Outcome, forget_jobs, median, say, timer, verdict
from bench.data import write_mixed, write_random

if TYPE_CHECKING:
    from client.engine import Engine
    from client.events import Event

RUNS = 3


class Wire:
    """Request body bytes and requests, counted as botocore sends them."""

    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0
        self._lock = threading.Lock()

    def hook(self, request: Any, **_: Any) -> None:
        with self._lock:
            self.requests += 1
            self.bytes += int(request.headers.get("Content-Length") or 0)

    def attach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register("before-send", self.hook)

    def take(self) -> tuple[int, int]:
        with self._lock:
            out = (self.bytes, self.requests)
            self.bytes = self.requests = 0
            return out


class Moments:
    def __init__(self) -> None:
        self.marks: dict[tuple[str, str], float] = {}
        self.changed = threading.Condition()

    def on_event(self, event: Event) -> None:
        with self.changed:
            self.marks.setdefault((event.file_id, event.phase.value), time.perf_counter())
            self.changed.notify_all()

    def wait(self, file_id: str, phase: str, timeout: float = 600) -> float:
        deadline = time.monotonic() + timeout
        with self.changed:
            while (file_id, phase) not in self.marks:
                if (file_id, "FAILED") in self.marks or time.monotonic() > deadline:
                    raise SystemExit(f"upload: {file_id} did not reach {phase}")
                self.changed.wait(1.0)
            return self.marks[(file_id, phase)]


def _client_run(
    engine: Engine, moments: Moments, source: Path, copy: Path
) -> tuple[str, float, float, float]:
    """(job id, upload s, staging s, total s) of one drop of ``source``."""
    os.link(source, copy)  # a new path is a new drop
    began = time.perf_counter()
    file_id = engine.submit(copy, {})
    assert file_id is not None
    staged = moments.wait(file_id, "UPLOADING")
    uploaded = moments.wait(file_id, "WAITING")
    copy.unlink()
    return file_id, uploaded - staged, staged - began, uploaded - began


def _one_file(
    kind: str,
    source: Path,
    engine: Engine,
    moments: Moments,
    reference: Callable[[str], None],
    wire: Wire,
    purge: Callable[[list[str]], None],
) -> dict[str, Any]:
    client_s: list[float] = []
    staging_s: list[float] = []
    total_s: list[float] = []
    reference_s: list[float] = []
    sent: dict[str, tuple[int, int]] = {}
    for n in range(RUNS):
        say(f"upload {kind}: run {n + 1} of {RUNS}")
        wire.take()
        file_id, up, staging, total = _client_run(
            engine, moments, source, source.with_name(f"drop-{n}")
        )
        sent["client"] = wire.take()
        client_s.append(up)
        staging_s.append(staging)
        total_s.append(total)
        purge([file_id])
        with timer() as t:
            reference(f"reference-{kind}-{n}")
        reference_s.append(t[0])
        sent["reference"] = wire.take()
        purge([])
    size = source.stat().st_size
    client, ref = median(client_s), median(reference_s)
    return {
        "file_mib": size // MiB,
        "client_upload_s": round(client, 2),
        "client_staging_s": round(median(staging_s), 2),
        "client_total_s": round(median(total_s), 2),
        "reference_s": round(ref, 2),
        "speed_ratio": round(ref / client, 2),
        "total_speed_ratio": round(ref / median(total_s), 2),
        "client_sent_mib": round(sent["client"][0] / MiB, 1),
        "client_requests": sent["client"][1],
        "reference_sent_mib": round(sent["reference"][0] / MiB, 1),
        "reference_requests": sent["reference"][1],
        "client_upload_runs_s": [round(s, 2) for s in client_s],
        "reference_runs_s": [round(s, 2) for s in reference_s],
    }


def run(ctx: Context) -> Outcome:
    from client.engine import Engine
    from infra.admin import register_client
    from infra.fleetkey import local_pins
    from shared.aws import Aws
    from shared.config import Settings
    from shared.keys import load_or_create_key

    mib = ctx.pick(32, 256, multiple=4)
    stack = ctx.stack()
    home = ctx.folder("upload")
    settings = Settings()
    settings.aws = stack.role_settings("client")
    settings.client.state_dir = home / "state"
    settings.client.inbox = home / "inbox"
    settings.client.fleet_keys = local_pins(stack)
    engine = Engine(
        settings,
        Aws(settings.aws, "bench-client"),
        key=load_or_create_key(settings.client.state_dir),
    )
    moments = Moments()
    engine.add_listener(moments.on_event)
    register_client(stack.admin_settings(), engine.client_id, "bench upload")
    reference_aws = Aws(stack.role_settings("client"), "bench-reference")
    bucket = settings.aws.bucket
    wire = Wire()
    wire.attach(engine.aws.s3, engine.aws.dynamodb, reference_aws.s3)

    def reference(name: str) -> None:
        reference_aws.s3.upload_file(str(source), bucket, f"{engine.client_id}/{name}")

    def purge(jobs: list[str]) -> None:
        forget_jobs(stack, engine.client_id, jobs)

    figures: dict[str, Any] = {"runs": RUNS}
    try:
        for kind, write in (("mixed", write_mixed), ("random", write_random)):
            source = home / f"{kind}.bin"
            say(f"upload: writing {mib} MiB of {kind} data")
            write(source, mib)
            figures[kind] = _one_file(kind, source, engine, moments, reference, wire, purge)
            source.unlink()
    finally:
        engine.stop()
    mixed, rand = figures["mixed"], figures["random"]
    met = mixed["client_upload_s"] <= mixed["reference_s"]
    headline = (
        f"upload {mib} MiB mixed: client {mixed['client_upload_s']:.2f} s"
        f" ({mixed['client_sent_mib']:.0f} MiB sent), upload_file {mixed['reference_s']:.2f} s"
        f" ({mixed['reference_sent_mib']:.0f} MiB sent), speed ratio {mixed['speed_ratio']:.2f}"
        f" (target >= 1: {verdict(met)}); random: ratio {rand['speed_ratio']:.2f}"
    )
    return Outcome("upload", headline, figures, met)
