"""Processing profiles: what a processor offers, as the fleet publishes it to desktops.

A processor declares its profiles at ``GET /profiles`` (processor/openapi.yaml);
a fetcher reads them at start and writes them to the data bucket at
``results/profiles.json``, the one place under ``results/`` a desktop can read
that belongs to no job (the sweep leaves two-part keys alone). Desktops show
them as a form instead of a JSON object.

Whoever can write that object (any fetcher, so anyone holding fetcher
credentials) could write a crafted one: the document is untrusted display
data. It is read with a size bound and validated here into plain values of
bounded length, and nothing in it is ever executed or rendered as markup.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import IntegrityError
from shared.store import Store

KEY = "results/profiles.json"
"""Where the fleet publishes its processors' profiles in the data bucket."""
MAX_BYTES = 64 * 1024
"""A catalog larger than this is refused unread (a real one is a few KB)."""
MAX_PROFILES = 32
MAX_PARAMS = 16
MAX_TEXT = 400
"""Characters of a description kept; longer ones are cut."""
MAX_CHOICES = 32
TYPES = ("string", "integer", "number", "boolean", "array")
"""Param types: JSON-schema names; ``array`` is a list of strings."""
ARTICLES = {
    "string": "a text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list of texts",
}
"""How a param's type reads in a message."""
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
RESERVED = frozenset({"profile"})
"""Param names a profile may not declare: ``profile`` is the choice itself."""


@dataclass(frozen=True)
class Param:
    """One parameter of a profile, JSON-schema-like."""

    name: str
    type: str
    description: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    """For a string: the values it may take (a pick list in the form)."""
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: Any) -> Any:
        """``value`` when it fits this param; ``IntegrityError`` says why it does not."""
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "array": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[self.type]
        if not ok:
            raise IntegrityError(f"{self.name} must be {ARTICLES[self.type]}")
        if self.choices and value not in self.choices:
            raise IntegrityError(f"{self.name} must be one of {', '.join(self.choices)}")
        if self.type in ("integer", "number"):
            if not math.isfinite(value):
                raise IntegrityError(f"{self.name} must be a finite number")
            if self.minimum is not None and value < self.minimum:
                raise IntegrityError(f"{self.name} must be at least {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise IntegrityError(f"{self.name} must be at most {self.maximum:g}")
        return value


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    params: tuple[Param, ...] = ()


@dataclass(frozen=True)
class Catalog:
    """The profiles one processor serves, as published."""

    processor: str
    version: str
    profiles: tuple[Profile, ...] = field(default_factory=tuple)

    def find(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)


def _text(value: Any, what: str, limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise IntegrityError(f"{what} is not text")
    # Control characters (other than line breaks) have no place in display text.
    cleaned = "".join(c for c in value if c == "\n" or c.isprintable())
    return cleaned.strip()[:limit]


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise IntegrityError(f"{what} {str(value)[:40]!r} is not a name like 'summary' or 'ocr'")
    return value


def _bound(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IntegrityError(f"{what} is not a number")
    return float(value)


def _param(name: Any, raw: Any) -> Param:
    name = _name(name, "param")
    if name in RESERVED:
        raise IntegrityError(f"a profile may not declare a param named {name!r}")
    if not isinstance(raw, Mapping):
        raise IntegrityError(f"param {name} is not an object")
    kind = raw.get("type")
    if kind not in TYPES:
        raise IntegrityError(f"param {name} has type {str(kind)[:20]!r}; known: {', '.join(TYPES)}")
    choices_raw = raw.get("enum", [])
    if (
        not isinstance(choices_raw, list)
        or len(choices_raw) > MAX_CHOICES
        or not all(isinstance(c, str) for c in choices_raw)
        or (choices_raw and kind != "string")
    ):
        raise IntegrityError(f"param {name} has an unusable enum (at most {MAX_CHOICES} texts)")
    param = Param(
        name=name,
        type=str(kind),
        description=_text(raw.get("description"), f"the description of {name}"),
        choices=tuple(_text(c, f"a choice of {name}", 100) for c in choices_raw),
        minimum=_bound(raw.get("minimum"), f"the minimum of {name}"),
        maximum=_bound(raw.get("maximum"), f"the maximum of {name}"),
    )
    default = raw.get("default")
    if default is not None:
        if isinstance(default, str) and len(default) > MAX_TEXT:
            raise IntegrityError(f"the default of {name} is longer than {MAX_TEXT} characters")
        if isinstance(default, list) and len(default) > MAX_CHOICES:
            raise IntegrityError(f"the default of {name} has more than {MAX_CHOICES} items")
        try:
            param.check(default)
        except IntegrityError as exc:
            raise IntegrityError(f"the default of {exc}") from None
    return Param(**{**param.__dict__, "default": default})


def _profile(raw: Any) -> Profile:
    if not isinstance(raw, Mapping):
        raise IntegrityError("a profile is not an object")
    name = _name(raw.get("name"), "profile")
    params_raw = raw.get("params", {})
    if not isinstance(params_raw, Mapping) or len(params_raw) > MAX_PARAMS:
        raise IntegrityError(f"the params of {name} are not an object of at most {MAX_PARAMS}")
    return Profile(
        name=name,
        description=_text(raw.get("description"), f"the description of {name}"),
        params=tuple(_param(k, v) for k, v in params_raw.items()),
    )


def parse(data: Any) -> Catalog:
    """A catalog from its JSON value; ``IntegrityError`` for anything out of shape."""
    if not isinstance(data, Mapping):
        raise IntegrityError("the profiles document is not a JSON object")
    raw = data.get("profiles")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_PROFILES:
        raise IntegrityError(f"the profiles document lists no profiles or more than {MAX_PROFILES}")
    profiles = tuple(_profile(p) for p in raw)
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise IntegrityError("the profiles document names a profile twice")
    return Catalog(
        processor=_text(data.get("processor"), "the processor's name", 100),
        version=_text(data.get("version"), "the processor's version", 40),
        profiles=profiles,
    )


def loads(body: bytes) -> Catalog:
    """A catalog from the bytes of a published document or a ``GET /profiles`` answer."""
    if len(body) > MAX_BYTES:
        raise IntegrityError(f"the profiles document is over {MAX_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise IntegrityError(f"the profiles document is not JSON: {exc}") from None
    return parse(data)


def document(catalog: Catalog) -> dict[str, Any]:
    """The JSON value of a catalog (the shape ``parse`` reads)."""
    return {
        "processor": catalog.processor,
        "version": catalog.version,
        "profiles": [
            {
                "name": p.name,
                "description": p.description,
                "params": {
                    q.name: {
                        k: v
                        for k, v in (
                            ("type", q.type),
                            ("description", q.description),
                            ("default", q.default),
                            ("enum", list(q.choices) or None),
                            ("minimum", q.minimum),
                            ("maximum", q.maximum),
                        )
                        if v is not None
                    }
                    for q in p.params
                },
            }
            for p in catalog.profiles
        ],
    }


def publish(s3: Any, bucket: str, catalog: Catalog) -> None:
    """Write the catalog where desktops read it (only fetchers may write there)."""
    body = json.dumps(document(catalog), separators=(",", ":")).encode()
    Store(s3).put(bucket, KEY, body, content_type="application/json")


def read(s3: Any, bucket: str) -> Catalog | None:
    """The published catalog; None when none is published yet.

    Reads at most ``MAX_BYTES`` + 1 bytes, so a huge object costs nothing.
    ``IntegrityError`` when it is out of shape; an AWS refusal (no access, no
    network) is the caller's to report.
    """
    data = Store(s3).get(bucket, KEY, first=MAX_BYTES + 1)
    return None if data is None else loads(data)


def job_params(profile: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A folder's params for ``profile`` with the given values (blank ones left out)."""
    params: dict[str, Any] = {} if profile in ("", "default") else {"profile": profile}
    for name, value in values.items():
        if value is None or value == "" or value == []:
            continue
        params[name] = value
    return params
