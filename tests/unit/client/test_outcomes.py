"""What a failing step means for its drop: the rules, on plain exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from client.outcomes import COLLECTING, SENDING, DropOutcome, failure_reason, outcome
from client.staging import FileChanged
from client.upload import Paused
from shared.errors import DiskFullError, FpwError, IntegrityError, TransientError

FULL = DiskFullError("no room", directory=Path("/"), needed=2, free=1)
OFFLINE = EndpointConnectionError(endpoint_url="https://s3.example")


@pytest.mark.parametrize(
    ("exc", "sending", "collecting"),
    [
        (FileChanged("still being written"), DropOutcome.STAYS, DropOutcome.TROUBLE),
        (Paused("paused"), DropOutcome.STAYS, DropOutcome.TROUBLE),
        (FULL, DropOutcome.ROOM, DropOutcome.ROOM),
        (OFFLINE, DropOutcome.OFFLINE, DropOutcome.OFFLINE),
        (TimeoutError(), DropOutcome.OFFLINE, DropOutcome.OFFLINE),
        (
            IntegrityError("a different job already uses this id"),
            DropOutcome.FAIL,
            DropOutcome.TROUBLE,
        ),
        (TransientError("DynamoDB is busy"), DropOutcome.AGAIN, DropOutcome.TROUBLE),
        (FpwError("S3 refused the request"), DropOutcome.FAIL, DropOutcome.TROUBLE),
        (FileNotFoundError(2, "No such file"), DropOutcome.FAIL, DropOutcome.TROUBLE),
        (PermissionError(13, "Permission denied"), DropOutcome.FAIL, DropOutcome.TROUBLE),
        (KeyError("odd"), DropOutcome.TROUBLE, DropOutcome.TROUBLE),
    ],
)
def test_each_kind_of_failure_has_one_outcome_per_step(
    exc: Exception, sending: DropOutcome, collecting: DropOutcome
) -> None:
    assert outcome(exc, SENDING) is sending
    assert outcome(exc, COLLECTING) is collecting


def test_a_failed_drop_says_why_in_words() -> None:
    gone = FileNotFoundError(2, "No such file or directory", "/inbox/a.txt")
    assert failure_reason(gone) == "the file disappeared before it was uploaded"
    locked = PermissionError(13, "Permission denied", "/inbox/b.txt")
    assert failure_reason(locked) == "cannot be read: Permission denied: /inbox/b.txt"
    assert failure_reason(IntegrityError("result rejected")) == "result rejected"


def test_what_no_rule_names_is_not_swallowed() -> None:
    with pytest.raises(KeyboardInterrupt):
        outcome(KeyboardInterrupt(), SENDING)
