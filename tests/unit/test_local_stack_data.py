"""The local stack keeps its tables as JSON (``LocalStack.save``): every kind of
DynamoDB value must come back as it was, binary ones (an inline result) too."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from infra.local.stack import _loaded, _storable

names = st.text(min_size=1, max_size=8)
leaves = st.one_of(
    st.builds(lambda v: {"S": v}, st.text(max_size=20)),
    st.builds(lambda v: {"N": str(v)}, st.integers()),
    st.builds(lambda v: {"B": v}, st.binary(max_size=40)),
    st.builds(lambda v: {"BS": v}, st.lists(st.binary(min_size=1, max_size=8), max_size=3)),
    st.builds(lambda v: {"BOOL": v}, st.booleans()),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
        # A map's keys may be anything a job's params hold, type names included.
        st.builds(
            lambda v: {"M": v},
            st.dictionaries(st.sampled_from(["B", "BS", "S"]) | names, inner, max_size=3),
        ),
    ),
    max_leaves=10,
)


@given(st.dictionaries(names, values, min_size=1, max_size=5))
def test_any_item_survives_being_kept_as_json(item: dict[str, Any]) -> None:
    assert _loaded(json.loads(json.dumps(_storable(item)))) == item


def test_an_inline_result_is_kept_as_base64_text() -> None:
    kept = _storable({"file": {"S": "file-1"}, "results": {"B": b"\x00sealed"}})
    assert kept["results"] == {"B64": "AHNlYWxlZA=="}
