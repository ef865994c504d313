"""The OpenAPI document is valid and describes what the reference container returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.analysis import PROFILES, analyze
from tests import samples

SPEC = Path(__file__).parents[3] / "processor" / "openapi.yaml"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_the_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)


def test_the_documented_profiles_are_the_ones_served(spec: dict[str, Any]) -> None:
    documented = spec["components"]["schemas"]["ReferenceParams"]["properties"]["profile"]
    assert documented["enum"] == list(PROFILES)


def test_reference_results_match_the_documented_schema(
    spec: dict[str, Any], tmp_path: Path
) -> None:
    validators = pytest.importorskip("openapi_schema_validator")
    schema = {"$ref": "#/components/schemas/ReferenceResult", "components": spec["components"]}
    validator = validators.OAS31Validator(schema)
    files = [
        (samples.make_jpeg_with_exif(tmp_path / "p.jpg"), {}),
        (samples.make_text_image(tmp_path / "t.png", ["Hello"]), {}),
        (samples.make_pdf(tmp_path / "r.pdf", ["one", "two"]), {"split": ["1", "2-"]}),
        (samples.make_text(tmp_path / "n.md", "# Title\n\nSome words here.\n"), {}),
        (samples.make_csv(tmp_path / "c.csv", ["a", "b"], [[1, 2]]), {}),
        (samples.make_docx(tmp_path / "d.docx", ["A paragraph of words."], "Head"), {}),
        (samples.make_text(tmp_path / "s.txt", "Short text, summarised."), {"profile": "summary"}),
    ]
    types = {".md": "text/markdown", ".csv": "text/csv"}
    for path, params in files:
        result = analyze(path, types.get(path.suffix, "application/octet-stream"), params, "f")
        errors = [e.message for e in validator.iter_errors(result)]
        assert not errors, (path.name, errors)


def test_the_declared_profiles_match_the_documented_schema_and_the_served_ones(
    spec: dict[str, Any],
) -> None:
    from processor.analysis import catalog

    validators = pytest.importorskip("openapi_schema_validator")
    schema = {"$ref": "#/components/schemas/Profiles", "components": spec["components"]}
    validator = validators.OAS31Validator(schema)
    for llm in (False, True):
        declared = catalog(llm)
        assert not [e.message for e in validator.iter_errors(declared)]
        names = [p["name"] for p in declared["profiles"]]
        assert names == [p for p in PROFILES if llm or p != "llm"]
