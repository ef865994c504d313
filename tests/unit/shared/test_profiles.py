"""The profiles document: what desktops accept from the fleet, which is untrusted display data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from processor.analysis import catalog as reference_catalog
from shared import profiles
from shared.errors import IntegrityError
from watcher.sweep import owner


def test_the_reference_processors_profiles_read_back_as_they_were_declared() -> None:
    catalog = profiles.parse(reference_catalog(llm=True))
    llm = catalog.find("llm")
    assert llm is not None
    prompt = {q.name: q for q in llm.params}["prompt"]
    assert prompt.type == "string" and isinstance(prompt.default, str)
    assert profiles.parse(profiles.document(catalog)) == catalog  # published as read


def _doc(**profile: Any) -> dict[str, Any]:
    return {"processor": "p", "profiles": [{"name": "summary", **profile}]}


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], "not a JSON object"),
        ({"profiles": []}, "no profiles"),
        ({"profiles": [{"name": "a"}] * 33}, "more than 32"),
        ({"profiles": [{"name": "a"}, {"name": "a"}]}, "twice"),
        ({"profiles": [{"name": "<img src=x>"}]}, "is not a name"),
        (_doc(params={"p": {"type": "code"}}), "known: string"),
        (_doc(params={"profile": {"type": "string"}}), "may not declare"),
        (_doc(params={"n": {"type": "integer", "default": "ten"}}), "whole number"),
        (_doc(params={"n": {"type": "integer", "default": 9, "maximum": 5}}), "at most 5"),
        (_doc(params={"n": {"type": "boolean", "enum": ["a"]}}), "unusable enum"),
        (_doc(params={f"p{i}": {"type": "string"} for i in range(17)}), "at most 16"),
    ],
)
def test_a_crafted_document_is_refused_with_a_reason(document: Any, words: str) -> None:
    with pytest.raises(IntegrityError, match=words):
        profiles.parse(document)


def test_display_text_is_bounded_and_stripped_of_control_characters() -> None:
    catalog = profiles.parse(_doc(description="ok\x1b[31m" + "x" * 1000))
    text = catalog.profiles[0].description
    assert "\x1b" not in text and len(text) == profiles.MAX_TEXT


def test_a_document_over_the_size_bound_is_refused_unparsed() -> None:
    body = json.dumps(_doc(description="x" * profiles.MAX_BYTES)).encode()
    with pytest.raises(IntegrityError, match="over 65536 bytes"):
        profiles.loads(body)
    with pytest.raises(IntegrityError, match="not JSON"):
        profiles.loads(b"[" * 5000)


def test_job_params_leave_out_the_default_profile_and_blank_values() -> None:
    assert profiles.job_params("default", {"split": []}) == {}
    assert profiles.job_params("llm", {"prompt": "Who?", "split": None}) == {
        "profile": "llm",
        "prompt": "Who?",
    }


def test_the_published_document_belongs_to_no_job_so_the_sweep_keeps_it() -> None:
    assert owner(profiles.KEY) is None
