"""The whole pipeline on the local stack: real client, fetchers, watcher and
processor processes, each with its own role."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from client.engine import Engine
from client.state import Phase
from infra.local.stack import LocalStack
from infra.local.up import System
from shared.aws import Aws
from shared.record import Status, chunk_prefix
from shared.table import JobTable
from tests import samples
from tests.helpers import scaled, wait_for
from tests.jobs import create_job, upload_chunks


def admin(stack: LocalStack) -> Aws:
    return Aws(stack.admin_settings(), "test-admin")


def chunk_objects(stack: LocalStack, client: str, file_id: str) -> list[str]:
    aws = admin(stack)
    answer = aws.s3.list_objects_v2(
        Bucket=aws.settings.bucket, Prefix=chunk_prefix(client, file_id)
    )
    return [o["Key"] for o in answer.get("Contents", [])]


def make_samples(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "png": folder / "scan 1.png",
        "jpeg": folder / "photo été.jpg",
        "pdf": folder / "report (final).pdf",
        "text": folder / "notes – draft.txt",
    }
    samples.make_png(files["png"], size=(120, 80))
    samples.make_jpeg_with_exif(files["jpeg"])
    samples.make_pdf(files["pdf"], ["First page says hello", "Second page says goodbye"])
    samples.make_text(files["text"], "one two three\nfour five\n")
    return files


def test_files_dropped_in_the_watched_folder_become_decrypted_results(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    state_dir = tmp_path / "client-state"
    config = system.client_config(inbox, state_dir)
    system.register_client(state_dir)
    system.start_fetcher()
    client = system.start_client(config)
    staging = make_samples(tmp_path / "staging")
    inbox.mkdir(exist_ok=True)
    for path in staging.values():
        path.rename(inbox / path.name)

    results = inbox / "results"
    names = {p.name for p in staging.values()}
    wait_for(
        lambda: (
            {p.name.split(".result.")[0] for p in results.glob("*.result.*")} >= names
            or (not client.alive() and "client died")
        ),
        timeout=60,
        what="four results",
    )
    assert client.alive(), client.output()
    for original in names:
        (result,) = results.glob(f"{original}.result.json")
        data = json.loads(result.read_text(encoding="utf-8"))
        assert data["kind"] in ("image", "pdf", "text")
        assert (inbox / "done" / original).exists()
        assert not (inbox / original).exists()
    pdf = json.loads((results / "report (final).pdf.result.json").read_text(encoding="utf-8"))
    assert "goodbye" in json.dumps(pdf)
    png = json.loads((results / "scan 1.png.result.json").read_text(encoding="utf-8"))
    assert png["analysis"]["width"] == 120 and png["analysis"]["height"] == 80

    # The records say COMPLETED with an encrypted result, and no chunk is left.
    from client.state import State

    state = State(state_dir / "state.db")
    drops = [d for d in state.visible() if d.phase is Phase.DONE]
    state.close()
    assert len(drops) == 4
    table = JobTable(admin(stack).dynamodb, stack.admin_settings().table)
    for drop in drops:
        job = table.get(drop.file_id)
        assert job is not None and job.status is Status.COMPLETED
        assert job.results is not None and b"goodbye" not in job.results
        client_id, file_id = job.client, job.file
        wait_for(
            lambda c=client_id, f=file_id: not chunk_objects(stack, c, f),  # type: ignore[misc]
            what="chunks deleted",
        )


def test_fpw_submit_wait_prints_the_decrypted_result(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    system.start_fetcher()
    config = system.client_config(tmp_path / "inbox", tmp_path / "submit-state")
    file = tmp_path / "hello world.txt"
    samples.make_text(file, "alpha beta gamma\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    env["FPW_CONFIG"] = str(config)
    # The key is created by the first command; registration is an admin step.
    show = subprocess.run(
        [sys.executable, "-m", "shared.cli", "client", "--show-id"],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=True,
    )
    from infra.admin import register_client

    register_client(stack.admin_settings(), show.stdout.strip(), "submit test")
    patience = scaled(60)
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "submit", str(file), "--wait"]
        + ["--timeout", f"{patience:.0f}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=patience * 1.5,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["kind"] == "text"
    assert result["analysis"]["words"] == 3
    assert file.exists()  # submit never moves the user's file


def test_two_fetchers_racing_over_fifty_jobs_process_each_exactly_once(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    ids = []
    for i in range(50):
        path = folder / f"file-{i}.txt"
        samples.make_text(path, f"document number {i}\n")
        file_id = engine.submit(path, {})
        assert file_id
        ids.append(file_id)
    for file_id in ids:
        engine.wait_uploaded(file_id, scaled(60))
    system.start_fetcher("fetcher-a")
    system.start_fetcher("fetcher-b")
    for file_id in ids:
        drop = engine.wait(file_id, timeout=scaled(120))
        assert drop.phase is Phase.DONE, drop.error
    table = JobTable(admin(stack).dynamodb, stack.admin_settings().table)
    holders = set()
    for file_id in ids:
        job = table.get(file_id)
        assert job is not None and job.status is Status.COMPLETED
        assert job.attempts == 1
        holders.add(job.holder)
    assert len(holders) == 2, "both fetchers should have taken part"
    calls = system.parts["processor"].output()
    for file_id in ids:
        assert calls.count(f'"job": "{file_id}"') == 1, file_id


def test_a_fetcher_killed_mid_job_loses_it_and_another_completes_it(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    """The first fetcher stops dead while it waits for chunks; the watcher
    requeues the job; a second fetcher completes it; the first one's late
    write is refused."""
    from shared import transitions
    from shared.errors import ClaimLost
    from shared.record import iso, utc_now

    path = tmp_path / "slow upload.txt"
    samples.make_text(path, "the upload of this file is held back\n")
    # The record exists but the chunks are held back, so the fetcher waits mid-transfer.
    made = create_job(engine.aws, engine.key, path, tmp_path / "spool")
    file_id = made.job.file
    table = JobTable(admin(stack).dynamodb, stack.admin_settings().table)

    first = system.start_fetcher("fetcher-first", chunk_wait_seconds=120)
    job = wait_for(
        lambda: (j := table.get(file_id)) and j.status is Status.PROCESSING and j,
        what="first claim",
    )
    first_holder, first_token = job.holder, job.attempts
    first.signal(signal.SIGSTOP)  # as good as dead: no heartbeats, no writes

    watcher = system.start_watcher(stall_seconds=2.0, interval_seconds=1.0)
    wait_for(
        lambda: (j := table.get(file_id)) and j.status is Status.QUEUED,
        what="requeue by the watcher",
    )
    watcher.stop()
    upload_chunks(engine.aws, made)
    system.start_fetcher("fetcher-second")
    done = wait_for(
        lambda: (j := table.get(file_id)) and j.status is Status.COMPLETED and j,
        timeout=60,
        what="completion by the second fetcher",
    )
    assert done.holder != first_holder and done.attempts == first_token + 1

    # The first fetcher wakes up: its fenced writes are refused.
    first.signal(signal.SIGCONT)
    wait_for(lambda: "taken away" in first.output(), what="the first fetcher noticing")
    fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
    late = transitions.complete(
        first_holder or "", first_token, iso(utc_now()), b"late", 0, "30", "fleet-04"
    )
    try:
        JobTable(fetcher.dynamodb, fetcher.settings.table).apply(file_id, late)
        raise AssertionError("the late write was accepted")
    except ClaimLost as exc:
        assert exc.current is not None and exc.current.holder == done.holder
    after = table.get(file_id)
    assert after is not None and after.results == done.results
    first.kill()
