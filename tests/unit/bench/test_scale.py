"""The fleet model (``python -m bench scale``): it loses no job, reports every limit
its demand crosses, gives the same figures for the same seed, and reproduces the
local stack's measurements within the tolerances it states."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bench.prices import dynamodb_units
from bench.proxy import Call
from bench.scale import aws
from bench.scale.model import AWS, LOCAL, Design, Model, Workload
from bench.scale.report import MANY_ITEMS, calibrate, measure, peaks, sweep_figures

SHAPES = [
    Workload(rate=3.0),
    Workload(rate=3.0, shape="bursts"),
    Workload(rate=0.5, shape="drop", drop_files=300),
    Workload(rate=0.0, backlog=60, processing_seconds=0.002, clients=5),
]


@pytest.mark.parametrize("workload", SHAPES, ids=lambda w: f"{w.shape}-{w.backlog}")
def test_every_job_that_arrives_is_completed_or_still_in_the_system(workload: Workload) -> None:
    o = Model(12, workload, Design.shipped(), AWS, seed=4, seconds=40).run()
    assert o.arrived > 0
    assert o.conserved, (o.arrived, o.completed, o.queued, o.processing)
    assert len(o.done_at) == o.completed
    if workload.backlog:
        assert o.arrived == workload.backlog == o.completed


def test_a_fleet_too_small_for_its_load_keeps_the_rest_queued_and_loses_none() -> None:
    o = Model(2, Workload(rate=5.0), Design.shipped(), AWS, seed=2, seconds=30).run()
    assert o.queued > 50
    assert o.conserved


def test_the_same_seed_gives_the_same_figures_and_another_seed_others() -> None:
    def figures(seed: int) -> tuple[object, ...]:
        o = Model(8, Workload(rate=2.0), Design.shipped(), AWS, seed=seed, seconds=30).run()
        return (o.arrived, o.completed, o.failed_claims, o.stale_picks, dict(o.meter.requests))

    assert figures(7) == figures(7)
    assert figures(7) != figures(8)


def test_demand_over_any_limit_is_reported_with_its_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    # Limits far below what ten fetchers need: each must be reported as crossed.
    monkeypatch.setattr(aws, "PARTITION_WRITE", replace(aws.PARTITION_WRITE, value=2.0))
    monkeypatch.setattr(aws, "PARTITION_READ", replace(aws.PARTITION_READ, value=1.0))
    monkeypatch.setattr(aws, "S3_WRITES", replace(aws.S3_WRITES, value=0.5))
    design = Design.shipped()
    o = Model(10, Workload(rate=4.0, clients=3), design, AWS, seed=1, seconds=30).run()
    found = peaks(o, design, 4.0)
    crossed = {p.limit.name for p in found if p.ratio > 1}
    assert {"partition write units", "partition read units", "S3 writes per prefix"} <= crossed


def test_no_second_of_any_key_exceeds_a_limit_the_report_does_not_name() -> None:
    design = Design.shipped().but(client_index_narrow=False)
    load = Workload(rate=0.0, shape="drop", result_bytes=30_000, drop_files=3000)
    o = Model(30, load, design, AWS, seed=3, seconds=60).run()
    found = peaks(o, design, 0.0, since=0)
    by_limit = {(p.limit.name, p.where): p for p in found}
    per_key = {"wcu": aws.PARTITION_WRITE, "rcu": aws.PARTITION_READ}
    for (resource, key), seconds in o.meter.usage.items():
        kind, _, space = resource.partition(":")
        if kind not in per_key or (space == "table" and key in MANY_ITEMS):
            continue
        worst = max(seconds.values())
        if worst > per_key[kind].value:
            reported = [p for (name, _), p in by_limit.items() if name == per_key[kind].name]
            assert reported and max(p.ratio for p in reported) >= worst / per_key[kind].value
    # This drop (large results in an index that projects everything) does cross one.
    assert any(p.ratio > 1 and "client-index" in p.where for p in found)


def test_a_narrow_client_index_keeps_the_same_drop_under_the_partition_limits() -> None:
    load = Workload(rate=0.0, shape="drop", result_bytes=30_000, drop_files=3000)
    row = measure(30, load, Design.shipped().but(client_index_narrow=True), 60.0)
    assert not [p for p in row.crossed if "client-index" in p.where]


def test_the_model_reproduces_the_local_stack_measurements_within_tolerance() -> None:
    off = [c for c in calibrate(seeds=3) if not c.ok]
    assert not off, [(c.what, round(c.model, 3), c.measured, c.tolerance) for c in off]


def test_the_local_stack_backend_serves_one_request_at_a_time() -> None:
    # Four fetchers on one server finish a backlog no faster than the server allows.
    backlog = Workload(rate=0.0, backlog=100, processing_seconds=0.002, clients=5)
    o = Model(4, backlog, Design.shipped(), LOCAL, seed=1, seconds=120).run()
    assert o.completed == 100
    assert o.seconds >= 100 * 7 * LOCAL.dynamodb_seconds


def test_the_indexed_sweep_reads_the_jobs_in_flight_and_the_scan_the_whole_week() -> None:
    """What the watcher reads each sweep: before, every record kept for the retention;
    with the indexes, the jobs from their claim to their retirement, whatever the
    retention."""
    indexed = Design.shipped()
    scan = indexed.but(sweep_indexed=False)
    week, month = indexed, indexed.but(retention_seconds=30 * 86400.0)
    assert sweep_figures(10.0, week)["records"] == sweep_figures(10.0, month)["records"]
    assert sweep_figures(10.0, scan)["records"] == 10.0 * scan.retention_seconds
    for rate in (0.1, 1.0, 100.0):
        assert (
            sweep_figures(rate, indexed)["read_units"]
            < sweep_figures(rate, scan)["read_units"] / 100
        )
        assert sweep_figures(rate, indexed)["seconds"] < indexed.sweep_seconds


def test_only_writes_that_change_status_or_progress_copy_a_record_into_client_index() -> None:
    record = {
        "file": {"S": "file-1"},
        "client": {"S": "client-1"},
        "created": {"S": "2026-11-22T11:00:00.000Z"},
        "status": {"S": "PROCESSING"},
        "params": {"S": "x" * 3000},
    }

    def units(names: dict[str, str], expression: str) -> float:
        request = {"ExpressionAttributeNames": names, "UpdateExpression": expression}
        call = Call(
            "fetcher", "dynamodb", "UpdateItem", True, 0, 0, 0.0,
            bodies=(json.dumps(request).encode(), json.dumps({"Attributes": record}).encode()),
        )  # fmt: skip
        return dynamodb_units(call, 1024).write_units

    beat = units({"#heartbeat": "heartbeat"}, "SET #heartbeat = :now")
    assert beat == 4  # the record's 3.1 KiB, nothing in the index
    assert units({"#status": "status"}, "SET #status = :s") == beat + 1  # a small copy
