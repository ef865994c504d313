"""Progress of the analysis running in this process, for ``GET /progress/{job}``.

Analyses call ``report`` at natural steps (a PDF page read); the worker
process installs a reporter that passes the number to the server. Outside a
worker (tests, scripts) reporting does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

_reporter: Callable[[int], None] | None = None


def install(reporter: Callable[[int], None] | None) -> None:
    global _reporter
    _reporter = reporter


def report(done: int, total: int) -> None:
    """``done`` of ``total`` steps finished (reported as a whole percentage)."""
    if _reporter is not None and total > 0:
        _reporter(max(0, min(100, done * 100 // total)))
