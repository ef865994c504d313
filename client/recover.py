"""Reading results from the server without the local record of the drop.

A replacement computer that imported the old key has no state database
entry for jobs the old one sent, but the records (until they expire or the
receipt lets the watcher delete them) still hold results sealed to that key.
Their file names are not on the server, so recovered results are named by
job id.
"""

from __future__ import annotations

import logging
from pathlib import Path

from client.engine import Engine
from client.places import result_name
from client.state import Phase
from shared import fleet, hpke, signing
from shared.errors import FpwError
from shared.record import Status

log = logging.getLogger(__name__)


def fetch_result(engine: Engine, file_id: str) -> hpke.Payload:
    """Decrypt one job's result with this computer's key, once the fleet's signature checks."""
    job = engine.table.get(file_id)
    if job is None:
        raise FpwError("the job record is gone (expired or already delivered)", job=file_id)
    if job.status is not Status.COMPLETED:
        raise FpwError(f"the job is {job.status.value}, not completed", job=file_id)
    # No local copy of the job here: the record's own signature, by this very key,
    # stands in for it; the fleet must have signed the result like any other.
    if job.client != engine.client_id:
        raise FpwError("result rejected: the job is not this computer's", job=file_id)
    signing.verify_job(job)
    collector = engine.collector
    ciphertext = collector.sealed_result(job)
    fleet.verify_result(job, ciphertext, job, collector.fleet_keys)
    return hpke.open_result(ciphertext, engine.key, file_id)


def recover(engine: Engine, folder: Path | None = None) -> list[Path]:
    """Save every completed result this profile has not saved yet; returns the new files."""
    target = folder or engine.places.results / "recovered"
    saved: list[Path] = []
    for listed in engine.table.summaries(engine.client_id):
        if listed.status != Status.COMPLETED.value:
            continue
        local = engine.state.get(listed.file)
        if local is not None and local.phase is Phase.DONE:
            continue
        try:
            result = fetch_result(engine, listed.file)
        except FpwError as exc:
            log.warning("cannot recover %s: %s", listed.file, exc)
            continue
        target.mkdir(parents=True, exist_ok=True)
        path = target / result_name(listed.file, result.content_type)
        if path.exists():
            continue  # recovered before
        path.write_bytes(result.body)
        saved.append(path)
        log.info("recovered the result of %s into %s", listed.file, path)
    return saved
