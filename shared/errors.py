"""The error hierarchy shared by every part.

Each error carries what happened, which job it concerns (when there is one)
and what the user can do about it; ``recoverable`` separates the failures a
retry may cure from the ones it never will.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.record import Job


class FpwError(Exception):
    """Base of every error fpw raises on purpose."""

    recoverable: bool = False

    def __init__(self, message: str, *, job: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job = job
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.job:
            text = f"{self.job}: {text}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class ConfigError(FpwError):
    """A setting is missing or malformed."""


class IntegrityError(FpwError):
    """A signature, hash or size does not match: the job is rejected for good."""


class UnknownClientError(IntegrityError):
    """The job's client key is not registered, or was revoked."""


class ClaimLost(FpwError):
    """The fencing condition failed: another holder owns the job now.

    ``current`` is the job as it was when the write was refused (None when
    there was no record, or one that does not parse); ``raw`` is that record's
    item as stored, for the few callers that must read a damaged one.
    """

    recoverable = True

    def __init__(
        self,
        message: str,
        *,
        job: str | None = None,
        current: Job | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, job=job)
        self.current = current
        self.raw = raw


class RecordTooLarge(FpwError):
    """A write would take a record over DynamoDB's item limit (400 KB)."""


class TransientError(FpwError):
    """Network, throttling, a 5xx: trying again later may succeed."""

    recoverable = True


class PermanentError(FpwError):
    """The input can never be processed (a processor's 4xx, a malformed job)."""


class DiskFullError(TransientError):
    """A local folder has no room for what must be written there.

    Nothing is lost: the work waits and goes on once space is freed.
    """

    def __init__(
        self,
        message: str,
        *,
        directory: Path,
        needed: int,
        free: int,
        job: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, job=job, hint=hint)
        self.directory = directory
        self.needed = needed
        self.free = free
