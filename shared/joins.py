"""Join requests: a new desktop asks an administrator to register its key.

A request lives in the joins table under two keys: ``site``, the ``aws:userid``
of the site credential that filed it (IAM binds the partition to the caller,
so a site reads and writes only its own requests), and ``client``, the key's
client id. The desktop writes only the request's own fields; ``state`` and
``reason`` are the administrator's. A request gives no right to submit work:
only a registration in the clients table does, and approving a request writes
exactly that registration.

The rules that decide what a request's state is are pure functions
(``state_at``), so the desktop and the administrator agree on expiry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.aws import error_code
from shared.errors import FpwError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LISTED_PER_SITE = 20
"""Pending requests the administrator's listing shows per site credential: one
credential that files thousands cannot push another site's requests out of view."""

NAME_LIMIT = 64
"""Characters kept of a computer or user name (they are only shown, never trusted)."""


class JoinState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class JoinRequest:
    site: str
    """``aws:userid`` of the site credential that filed it (the partition key)."""
    client: str
    """The desktop's client id: its public key."""
    computer: str
    """The computer's name, as the desktop reports it (display only)."""
    user: str
    """The desktop user's name, as reported (display only)."""
    requested: str
    """When it was filed (ISO 8601, UTC)."""
    expires: int
    """Epoch seconds after which it can no longer be approved (also the table's TTL)."""
    state: JoinState = JoinState.PENDING
    """The administrator's decision; pending until there is one."""
    reason: str = ""
    """Why it was rejected, for the desktop's user."""

    @property
    def id(self) -> str:
        """A short id the administrator types (``fpw clients approve ID``)."""
        return request_id(self.site, self.client)


def request_id(site: str, client: str) -> str:
    return hashlib.sha256(f"{site}\n{client}".encode()).hexdigest()[:12]


def state_at(request: JoinRequest, now: float) -> JoinState:
    """A pending request past its expiry is expired; a decision stands."""
    if request.state is JoinState.PENDING and now >= request.expires:
        return JoinState.EXPIRED
    return request.state


def _clean(text: str) -> str:
    kept = "".join(c for c in text if c.isprintable())
    return kept.strip()[:NAME_LIMIT] or "?"


def to_item(request: JoinRequest) -> dict[str, Any]:
    """What the desktop writes: the request's own fields, never a decision."""
    return {
        "site": {"S": request.site},
        "client": {"S": request.client},
        "computer": {"S": _clean(request.computer)},
        "user": {"S": _clean(request.user)},
        "requested": {"S": request.requested},
        "expires": {"N": str(request.expires)},
    }


def from_item(item: dict[str, Any]) -> JoinRequest:
    def text(key: str) -> str:
        return str(item.get(key, {}).get("S", ""))

    try:
        state = JoinState(text("state") or JoinState.PENDING.value)
        expires = int(item.get("expires", {}).get("N", "0"))
    except ValueError:
        state, expires = JoinState.REJECTED, 0
    return JoinRequest(
        site=text("site"),
        client=text("client"),
        computer=_clean(text("computer")),
        user=_clean(text("user")),
        requested=text("requested"),
        expires=expires,
        state=state,
        reason=text("reason"),
    )


class JoinTable:
    """The joins table, for a desktop (file, read its own) or an administrator."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def file(self, request: JoinRequest) -> None:
        """File (or file anew) this desktop's request."""
        self.dynamodb.put_item(TableName=self.table, Item=to_item(request))

    def get(self, site: str, client: str) -> JoinRequest | None:
        answer = self.dynamodb.get_item(
            TableName=self.table,
            Key={"site": {"S": site}, "client": {"S": client}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return from_item(item) if item else None

    def every(self) -> list[JoinRequest]:
        """Admin: every request in the table (a scan)."""
        found: list[JoinRequest] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            answer = self.dynamodb.scan(**kwargs)
            found.extend(from_item(item) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return found
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def find(self, request: str) -> JoinRequest:
        """Admin: the request with this id."""
        for found in self.every():
            if found.id == request.strip().lower():
                return found
        raise FpwError(
            f"no join request {request}",
            hint="`fpw clients requests` lists the requests waiting for a decision",
        )

    def decide(self, request: JoinRequest, state: JoinState, reason: str = "") -> None:
        """Admin: record the decision, only on a request still as it was listed.

        The condition guards the window between listing and deciding: a
        request filed anew (another key, a later expiry) is not decided blind.
        """
        values: dict[str, Any] = {
            ":state": {"S": state.value},
            ":reason": {"S": reason},
            ":client": {"S": request.client},
            ":expires": {"N": str(request.expires)},
        }
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"site": {"S": request.site}, "client": {"S": request.client}},
                UpdateExpression="SET #state = :state, #reason = :reason",
                ConditionExpression="#client = :client AND #expires = :expires",
                ExpressionAttributeNames={
                    f"#{n}": n for n in ("state", "reason", "client", "expires")
                },
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise FpwError(
                    f"join request {request.id} changed while it was being decided",
                    hint="list the requests again (`fpw clients requests`)",
                ) from exc
            raise


def listed(requests: list[JoinRequest], now: float) -> tuple[list[JoinRequest], int]:
    """Admin listing: pending requests newest first, at most ``LISTED_PER_SITE`` per
    site credential; also how many were left out."""
    pending = [r for r in requests if state_at(r, now) is JoinState.PENDING]
    pending.sort(key=lambda r: r.requested, reverse=True)
    shown: list[JoinRequest] = []
    per_site: dict[str, int] = {}
    for request in pending:
        per_site[request.site] = per_site.get(request.site, 0) + 1
        if per_site[request.site] <= LISTED_PER_SITE:
            shown.append(request)
    return shown, len(pending) - len(shown)
