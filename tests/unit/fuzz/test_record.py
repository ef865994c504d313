"""The record conversion (DynamoDB item <-> Job) under random and hostile items.

Records are written by clients and fetchers, read by every part: whatever an
item holds, ``from_item`` returns a well-typed job or raises the project's
``IntegrityError``, and never anything else.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.errors import IntegrityError
from shared.record import (
    TIMESTAMP_FIELDS,
    Job,
    from_item,
    parse_iso,
    results_location,
    to_item,
    validate,
)
from tests.unit.fuzz.strategies import attributes, jobs, timestamps


def parsed_or_refused(item: Any) -> Job | None:
    """``from_item``'s answer; any exception but ``IntegrityError`` fails the property."""
    try:
        job = from_item(item)
    except IntegrityError as exc:
        assert exc.message.startswith("malformed job record") or "result" in exc.message
        return None
    # Whatever is accepted is fit for every reader: typed, shaped, and stable.
    validate(job)
    assert from_item(to_item(job)) == job
    return job


@given(jobs())
def test_every_job_survives_the_round_trip_through_an_item(job: Job) -> None:
    assert from_item(to_item(job)) == job


@given(st.dictionaries(st.text(max_size=12), attributes, max_size=8))
def test_a_random_item_is_parsed_or_refused_with_an_integrity_error(item: dict[str, Any]) -> None:
    parsed_or_refused(item)


@given(jobs(), st.data())
def test_a_valid_item_with_one_field_replaced_is_parsed_or_refused(
    job: Job, data: st.DataObject
) -> None:
    item = to_item(job)
    name = data.draw(st.sampled_from(sorted(item)), label="field")
    item[name] = data.draw(attributes, label="replacement")
    parsed_or_refused(item)


@given(jobs(), st.data())
def test_a_valid_item_missing_a_field_is_parsed_or_refused(job: Job, data: st.DataObject) -> None:
    item = to_item(job)
    del item[data.draw(st.sampled_from(sorted(item)), label="dropped")]
    parsed_or_refused(item)


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers()), st.binary()))
def test_an_item_that_is_not_a_mapping_is_refused(item: Any) -> None:
    assert parsed_or_refused(item) is None


@given(jobs(), st.sampled_from(TIMESTAMP_FIELDS), st.text(max_size=30))
def test_a_timestamp_that_is_not_iso_with_a_zone_is_refused(job: Job, name: str, text: str) -> None:
    item = to_item(job)
    item[name] = {"S": text}
    try:
        parse_iso(text)
    except IntegrityError:
        assert parsed_or_refused(item) is None
    else:
        parsed_or_refused(item)


@given(timestamps)
def test_record_timestamps_parse_back_to_aware_times(text: str) -> None:
    assert parse_iso(text).tzinfo is not None


@given(jobs(), st.text(max_size=120))
def test_only_the_jobs_own_result_object_is_accepted_as_its_pointer(job: Job, ref: str) -> None:
    job.results, job.results_ref = None, ref
    own = f"s3://{job.bucket}/results/{job.client}/{job.file}"
    try:
        bucket, key = results_location(job)
    except IntegrityError:
        assert ref != own
    else:
        assert ref == own and f"s3://{bucket}/{key}" == own


@given(jobs(), st.sampled_from(["file", "client", "content_type"]), st.text(max_size=40))
def test_ids_and_content_types_of_the_wrong_shape_are_refused(
    job: Job, name: str, text: str
) -> None:
    setattr(job, name, text)
    try:
        validate(job)
    except IntegrityError:
        return
    # Accepted: then it is safe as a file name, S3 key part and HTTP header.
    assert "/" not in job.file and ".." not in job.file
    assert all(32 <= ord(c) < 127 for c in job.content_type)
