"""Benchmarks: what users pay for, measured against the reference they would
otherwise use, in the same run. ``python -m bench`` runs them all; see
``bench/__main__.py`` and docs/benchmarks.md. Not part of the test suite."""
