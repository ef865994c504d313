"""Reading results from the server without the local record of the drop.

A replacement computer that imported the old key has no state database
entry for jobs the old one sent, but the records (until they expire or the
receipt lets the watcher delete them) still hold results sealed to that key.
Their file names are not on the server, so recovered results are named by
job id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.engine import Engine
from client.places import result_name
from client.state import Phase
from shared import fleet, hpke, signing
from shared.errors import FpwError
from shared.record import Status
from shared.table import CLIENT_INDEX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteJob:
    file_id: str
    status: Status
    created: str


def remote_jobs(engine: Engine, since: str = "") -> list[RemoteJob]:
    """This key's jobs still in the table, oldest first (one paged query)."""
    names = {"#client": "client", "#created": "created", "#file": "file", "#status": "status"}
    values: dict[str, Any] = {":me": {"S": engine.client_id}}
    condition = "#client = :me"
    if since:
        condition += " AND #created >= :since"
        values[":since"] = {"S": since}
    kwargs: dict[str, Any] = {
        "TableName": engine.settings.aws.table,
        "IndexName": CLIENT_INDEX,
        "KeyConditionExpression": condition,
        "ProjectionExpression": "#file, #status, #created",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    jobs: list[RemoteJob] = []
    while True:
        answer = engine.aws.dynamodb.query(**kwargs)
        for item in answer.get("Items", []):
            jobs.append(
                RemoteJob(item["file"]["S"], Status(item["status"]["S"]), item["created"]["S"])
            )
        if "LastEvaluatedKey" not in answer:
            return jobs
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def fetch_result(engine: Engine, file_id: str) -> hpke.Result:
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
    ciphertext = engine.sealed_result(job)
    fleet.verify_result(job, ciphertext, job, engine.fleet_keys)
    return hpke.open_result(ciphertext, engine.key, file_id)


def recover(engine: Engine, folder: Path | None = None) -> list[Path]:
    """Save every completed result this profile has not saved yet; returns the new files."""
    target = folder or engine.results_dir / "recovered"
    saved: list[Path] = []
    for remote in remote_jobs(engine):
        if remote.status is not Status.COMPLETED:
            continue
        local = engine.state.get(remote.file_id)
        if local is not None and local.phase is Phase.DONE:
            continue
        try:
            result = fetch_result(engine, remote.file_id)
        except FpwError as exc:
            log.warning("cannot recover %s: %s", remote.file_id, exc)
            continue
        target.mkdir(parents=True, exist_ok=True)
        path = target / result_name(remote.file_id, result.content_type)
        if path.exists():
            continue  # recovered before
        path.write_bytes(result.body)
        saved.append(path)
        log.info("recovered the result of %s into %s", remote.file_id, path)
    return saved
