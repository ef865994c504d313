"""Hypothesis settings for the fuzz suite.

CI runs the ``ci`` profile, sized so that the whole suite stays under about
40 seconds on a shared two-core runner. For a longer hunt, set
``FUZZ_EXAMPLES`` (examples per property), e.g.::

    FUZZ_EXAMPLES=20000 python -m pytest -q tests/unit/fuzz

Hypothesis keeps the failing examples it finds in ``.hypothesis/`` and tries
them first on the next run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Not an FPW_ variable: tests/conftest.py clears those so no setting leaks in.
EXAMPLES = os.environ.get("FUZZ_EXAMPLES")

settings.register_profile(
    "ci",
    max_examples=80,
    # Timing varies on a shared runner; a slow example is not a failure.
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=int(EXAMPLES or 0) or 80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("long" if EXAMPLES else "ci")
