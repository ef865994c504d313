"""The utilization benchmark's timeline: where the container's idle time goes, and
whether the next job was prepared when a slot freed."""

from __future__ import annotations

from bench.utilization import Call, Steps, timeline


def job(claimed: float, prepared: float, arrived: float, started: float) -> Steps:
    return Steps(claimed, prepared, Call(arrived, started, started + 1.0), started + 1.1)


def test_gaps_are_split_into_the_transfer_of_a_prepared_job_and_a_late_preparation() -> None:
    steps = [
        job(0.0, 0.5, 0.6, 0.7),  # the first preparation: nothing to overlap it with
        job(0.7, 1.2, 1.75, 1.8),  # prepared in time: 0.1 s of gap (sending, transfer)
        job(1.8, 3.0, 3.0, 3.1),  # prepared 0.2 s after the slot freed at 2.8
    ]
    figures = timeline(steps, capacity=1)
    assert figures["head_seconds"] == 0.7
    assert figures["tail_seconds"] == 0.1
    assert figures["gap_total_seconds"] == 0.4
    assert figures["gap_max_seconds"] == 0.3
    assert figures["prepared_when_slot_freed"] == 0.5
    assert figures["send_median_seconds"] == 0.05
    assert figures["busy_bound"] == round(1 - 0.8 / 4.2, 3)


def test_with_two_slots_each_analysis_takes_the_slot_the_earlier_one_freed() -> None:
    steps = [
        job(0.0, 0.1, 0.1, 0.2),
        job(0.0, 0.1, 0.1, 0.2),
        job(0.2, 0.5, 1.2, 1.2),  # both slots freed at 1.2: no gap
        job(0.2, 0.5, 1.2, 1.3),  # 0.1 s after its slot freed
    ]
    figures = timeline(steps, capacity=2)
    assert figures["gap_total_seconds"] == 0.1
    assert figures["prepared_when_slot_freed"] == 1.0
