"""The desktop's state database and the signed job it keeps, when damaged.

The state file is the client's own, but disks fail and people edit files:
a damaged row must fail its own drop with a clear ``FpwError`` and leave
every other drop readable.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client.state import Drop, Phase, State, StateError, job_from_json, job_json
from shared.errors import IntegrityError
from shared.record import Job
from tests.unit.fuzz.strategies import jobs, json_values

COLUMNS = (
    "file_id",
    "path",
    "name",
    "fingerprint",
    "source",
    "params",
    "phase",
    "job",
    "recorded",
    "error",
    "result_path",
    "created",
    "updated",
)
# The schema itself keeps NULL out of these; anything else can be in any column.
NULLABLE = ("job", "recorded", "error", "result_path")
values = (
    st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=8)
    | json_values.map(json.dumps)
    | st.sampled_from([p.value for p in Phase])
)


def good_drop(file_id: str) -> Drop:
    return Drop(
        file_id=file_id,
        path=Path("/inbox/a.txt"),
        name="a.txt",
        fingerprint=f"fp-{file_id}",
        source="watch",
        params={},
        phase=Phase.WAITING,
        job=None,
        recorded=False,
        error=None,
        result_path=None,
        created=1.0,
        updated=1.0,
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.fixed_dictionaries(
        {c: values | st.none() if c in NULLABLE else values for c in COLUMNS if c != "file_id"}
    )
)
def test_a_damaged_row_fails_alone_with_a_clear_error(tmp_path: Path, row: dict[str, Any]) -> None:
    path = tmp_path / "state.db"
    path.unlink(missing_ok=True)
    state = State(path)
    try:
        state.add(good_drop("file-good"))
        with sqlite3.connect(path) as db:
            db.execute(
                f"INSERT INTO drops ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 13)})",
                ("file-damaged", *(row[c] for c in COLUMNS[1:])),
            )
        try:
            drop = state.get("file-damaged")
        except StateError as exc:
            assert "file-damaged" in str(exc)
        else:
            assert (
                drop is not None and isinstance(drop.path, Path) and isinstance(drop.phase, Phase)
            )
        listed = [d.file_id for d in state.visible()]
        assert "file-good" in listed
        assert [d.file_id for d in state.in_phase(Phase.WAITING)].count("file-good") == 1
    finally:
        state.close()


@given(jobs())
def test_the_kept_job_round_trips(job: Job) -> None:
    again = job_from_json(job_json(job))
    assert again.signed_fields() == job.signed_fields() and again.signature == job.signature


@given(jobs(), st.data())
def test_a_damaged_kept_job_is_refused_with_an_integrity_error(
    job: Job, data: st.DataObject
) -> None:
    kept = json.loads(job_json(job))
    choice = data.draw(st.sampled_from(["replace", "drop", "add", "whole"]), label="damage")
    if choice == "whole":
        kept = data.draw(json_values, label="kept")
    elif choice == "add":
        kept[data.draw(st.text(max_size=8), label="key")] = 1
    else:
        name = data.draw(st.sampled_from(sorted(kept)), label="field")
        if choice == "drop":
            del kept[name]
        else:
            kept[name] = data.draw(json_values, label="value")
    try:
        job_from_json(json.dumps(kept))
    except IntegrityError as exc:
        assert "send the file again" in exc.message
