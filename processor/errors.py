"""Analysis failures and the HTTP status each one maps to.

4xx answers are permanent (the fetcher ends the job with the message);
5xx answers are retryable.
"""

from __future__ import annotations


class AnalysisError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Unreadable(AnalysisError):
    """Corrupt, truncated, encrypted or hostile input."""


class TooLarge(AnalysisError):
    status = 413


class Unsupported(AnalysisError):
    status = 415


class BadParams(AnalysisError):
    status = 422


class TimedOut(AnalysisError):
    status = 504
