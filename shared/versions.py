"""Semantic versions and ranges, for version gating.

A range is comparators joined by spaces (all must hold), with ``||``
between alternatives: ``>=0.1.0 <1.0.0``, ``^1.2.0``, ``~1.4.0 || >=2.0.0``.
Pre-release tags sort before their release, as semver says.
"""

from __future__ import annotations

import operator
import re
from functools import total_ordering

from shared.errors import ConfigError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|\^|~)?(.+)$")


@total_ordering
class Version:
    def __init__(self, text: str) -> None:
        match = _VERSION.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a semantic version")
        self.text = text.strip()
        self.core = (int(match[1]), int(match[2]), int(match[3]))
        self.pre = tuple(match[4].split(".")) if match[4] else ()

    def _key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int | str], ...]]:
        pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.pre)
        return (self.core, 0 if self.pre else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


_ORDER = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def _check(op: str, bound: Version, v: Version) -> bool:
    if op in _ORDER:
        return bool(_ORDER[op](v, bound))
    major, minor, patch = bound.core
    if op == "^":
        upper = (major + 1, 0, 0) if major else ((0, minor + 1, 0) if minor else (0, 0, patch + 1))
        return v >= bound and v.core < upper
    if op == "~":
        return v >= bound and v.core < (major, minor + 1, 0)
    return v == bound


def parse_range(text: str) -> list[list[tuple[str, Version]]]:
    alternatives = []
    for part in text.split("||"):
        comparators = []
        for token in part.split():
            match = _COMPARATOR.match(token)
            if not match:
                raise ConfigError(f"bad version range {text!r}")
            try:
                comparators.append((match[1] or "=", Version(match[2])))
            except ValueError as exc:
                raise ConfigError(f"bad version range {text!r}: {exc}") from exc
        if not comparators:
            raise ConfigError(f"bad version range {text!r}: empty alternative")
        alternatives.append(comparators)
    return alternatives


def satisfies(version: str, range_text: str) -> bool:
    """True when ``version`` is in the range; an unparsable version never is."""
    try:
        v = Version(version)
    except ValueError:
        return False
    return any(all(_check(op, bound, v) for op, bound in alt) for alt in parse_range(range_text))
