"""The smaller parsers of input that other parties write: processing params
(signed by the client, read by the processor), client versions (read by every
fetcher from the queue index), stream records and coordination items (in the
jobs table, which every desktop can write to)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fetcher.lease import checkpoints_of
from fetcher.stream import Checkpoints, hints_from
from processor.analysis import PROFILES, check_params
from processor.errors import AnalysisError
from processor.pdfs import parse_ranges
from processor.server import parse_params
from shared import presence
from shared.versions import satisfies
from tests.unit.fuzz.strategies import json_values, wire_attributes

ranges = st.lists(
    st.from_regex(r"\s*[0-9٠-٩]{0,6}\s*-?\s*[0-9]{0,6}\s*", fullmatch=True)
    | st.text(max_size=8)
    | st.integers(4000, 5000).map(lambda n: "1" * n),
    max_size=4,
)


@given(
    st.dictionaries(
        st.sampled_from(["profile", "split", "prompt", "pages", "lang"]) | st.text(max_size=6),
        json_values | ranges | st.sampled_from(sorted(PROFILES)),
        max_size=4,
    )
)
def test_any_params_are_accepted_or_refused_with_a_4xx(params: dict[str, Any]) -> None:
    try:
        profile = check_params(params)
    except AnalysisError as exc:
        assert 400 <= exc.status < 500, exc
        return
    assert profile in PROFILES


@given(
    st.none()
    | st.text(max_size=60)
    | json_values.map(json.dumps)
    | st.integers(1, 60_000).map(lambda n: "[" * n)
    | st.integers(1, 20_000).map(lambda n: '{"a":' * n)
)
def test_any_params_header_is_an_object_or_a_422(raw: str | None) -> None:
    try:
        params = parse_params(raw)
    except AnalysisError as exc:
        assert exc.status == 422
        return
    assert isinstance(params, dict)


@given(json_values | ranges)
def test_any_page_ranges_parse_or_are_refused_with_a_4xx(spec: Any) -> None:
    try:
        parsed = parse_ranges(spec)
    except AnalysisError as exc:
        assert 400 <= exc.status < 500
        return
    assert all(first >= 1 and (last is None or last >= first) for first, last in parsed)


@given(
    st.text(max_size=40) | st.from_regex(r"v?[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,5}(-[a-z0-9.]{0,8})?")
)
def test_any_version_string_is_simply_in_or_out_of_range(version: str) -> None:
    assert satisfies(version, ">=0.1.0 <1.0.0 || ^2.0.0") in (True, False)


records = st.fixed_dictionaries(
    {},
    optional={
        "eventName": st.sampled_from(["INSERT", "MODIFY", "REMOVE"]) | st.text(max_size=6),
        "dynamodb": st.fixed_dictionaries(
            {},
            optional={
                "NewImage": st.dictionaries(
                    st.sampled_from(["file", "status", "queue", "version"]) | st.text(max_size=4),
                    wire_attributes,
                    max_size=5,
                )
            },
        ),
    },
)


@given(st.lists(records, max_size=5))
def test_any_stream_records_give_hints_only_for_queued_jobs(raw: list[dict[str, Any]]) -> None:
    for hint in hints_from(raw):
        assert hint.file.startswith("file-") and isinstance(hint.version, str)


@given(st.dictionaries(st.sampled_from(["checkpoints", "created"]), wire_attributes, max_size=2))
def test_any_lease_item_gives_checkpoints(item: dict[str, Any]) -> None:
    assert isinstance(checkpoints_of(item), Checkpoints)


@given(json_values.map(lambda v: {"checkpoints": {"S": json.dumps(v)}}))
def test_any_json_in_a_lease_item_gives_checkpoints(item: dict[str, Any]) -> None:
    assert isinstance(checkpoints_of(item), Checkpoints)


def test_deeply_nested_checkpoints_read_as_none() -> None:
    assert checkpoints_of({"checkpoints": {"S": "[" * 100_000}}) == Checkpoints()


@given(
    st.dictionaries(
        st.sampled_from(["file", "processor", "version", "supports", "seen"]),
        wire_attributes
        | st.builds(lambda v: {"S": presence.PRESENCE_PREFIX + v}, st.text(max_size=8)),
        max_size=5,
    )
)
def test_any_presence_item_is_a_fetcher_or_nothing(item: dict[str, Any]) -> None:
    seen = presence.parse(item)
    assert seen is None or isinstance(seen, presence.Presence)
