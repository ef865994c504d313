"""AWS sessions for every part, from the ``[aws]`` settings.

A part runs with its own role's credentials: base credentials (a profile,
explicit keys, or the default chain in a container) and, when ``role_arn`` is
set, that role assumed on top and refreshed before it expires. The endpoint
override sends every call, STS included, to the local stack.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import botocore.config
import botocore.session
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError

from shared.config import AwsSettings
from shared.errors import FpwError, RecordTooLarge, TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

T = TypeVar("T")

# Adaptive retries absorb throttling; the timeouts keep a dropped network from
# hanging a part for minutes.
BOTO_CONFIG = botocore.config.Config(
    retries={"max_attempts": 8, "mode": "adaptive"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)


def base_session(aws: AwsSettings) -> boto3.Session:
    """The base credentials alone, no role (``session`` assumes it on top): a desktop
    files its join request with the site's own IAM key, which IAM binds to that site's
    requests."""
    if aws.access_key_id and aws.secret_access_key:
        return boto3.Session(
            aws_access_key_id=aws.access_key_id,
            aws_secret_access_key=aws.secret_access_key,
            region_name=aws.region,
        )
    return boto3.Session(profile_name=aws.profile, region_name=aws.region)


def session(aws: AwsSettings, session_name: str = "fpw") -> boto3.Session:
    """A boto3 session with this part's credentials (role assumed when configured)."""
    base = base_session(aws)
    if not aws.role_arn:
        return base
    sts = base.client("sts", endpoint_url=aws.endpoint_url, config=BOTO_CONFIG)
    role_arn = aws.role_arn

    def refresh() -> dict[str, Any]:
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])
        creds = answer["Credentials"]
        expiry = creds["Expiration"]
        if isinstance(expiry, dt.datetime):
            expiry_text = expiry.astimezone(dt.UTC).isoformat()
        else:
            expiry_text = str(expiry)
        log.debug("assumed %s until %s", role_arn, expiry_text)
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry_text,
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
    )
    core = botocore.session.get_session()
    # botocore has no public setter for refreshable credentials; this is the
    # attribute its own providers fill.
    core._credentials = credentials  # type: ignore[attr-defined]
    core.set_config_variable("region", aws.region)
    return boto3.Session(botocore_session=core)


class Aws:
    """The clients a part needs, built once from its settings."""

    def __init__(self, aws: AwsSettings, session_name: str = "fpw") -> None:
        self.settings = aws
        self.session = session(aws, session_name)
        self.dynamodb: DynamoDBClient = self.session.client(
            "dynamodb", endpoint_url=aws.endpoint_url, config=BOTO_CONFIG
        )
        self.s3: S3Client = self.session.client(
            "s3", endpoint_url=aws.endpoint_url, config=BOTO_CONFIG
        )
        self._streams: DynamoDBStreamsClient | None = None

    def client(self, service: str, config: botocore.config.Config | None = None) -> Any:
        """Another service's client with the same credentials and endpoint (``config``
        merged over the usual retries and timeouts)."""
        merged = BOTO_CONFIG.merge(config) if config is not None else BOTO_CONFIG
        return self.session.client(  # type: ignore[call-overload]
            service, endpoint_url=self.settings.endpoint_url, config=merged
        )

    @property
    def streams(self) -> DynamoDBStreamsClient:
        if self._streams is None:
            self._streams = self.client("dynamodbstreams")
        return self._streams

    def stream_arn(self) -> str | None:
        """The jobs table's stream: from the settings, or looked up once."""
        if self.settings.stream_arn:
            return self.settings.stream_arn
        answer = self.streams.list_streams(TableName=self.settings.table)
        streams = answer.get("Streams", [])
        return streams[0]["StreamArn"] if streams else None


# -- errors and retries: the one place that reads an AWS error's code --------

THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
    }
)
DENIED = frozenset({"AccessDeniedException", "UnrecognizedClientException", "AccessDenied", "403"})
MISSING = frozenset({"NoSuchKey", "404", "NotFound", "ResourceNotFoundException"})


def error_code(exc: BaseException) -> str:
    """The service's code of a refused call ("?" for anything else)."""
    if not isinstance(exc, ClientError):
        return "?"
    return str(exc.response.get("Error", {}).get("Code", "?"))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "") or exc)


def convert(exc: ClientError, service: str, job: str | None = None) -> FpwError:
    """A refused call as one of our errors: busy is transient, a refusal says what to check."""
    code = error_code(exc)
    message = error_message(exc)
    if code in THROTTLED:
        return TransientError(f"{service} is busy ({code}): {message}", job=job)
    if code in DENIED:
        return FpwError(
            f"{service} refused the request ({code}): {message}",
            job=job,
            hint="check this part's role and credentials",
        )
    if code == "ValidationException" and "maximum allowed size" in message:
        return RecordTooLarge(f"{service} error {code}: {message}", job=job)
    return FpwError(f"{service} error {code}: {message}", job=job)


@dataclass
class Backoff:
    """Waits that double from ``first`` up to ``cap``: the one back-off of every retry loop."""

    first: float = 0.5
    cap: float = 30.0
    _next: float = 0.0

    def next(self) -> float:
        """The next wait, in seconds."""
        self._next = self.first if self._next <= 0 else min(self.cap, self._next * 2)
        return self._next


def retry(
    call: Callable[[], T],
    *,
    what: str,
    tries: int = 5,
    on: tuple[type[BaseException], ...] = (TransientError,),
    stop: threading.Event | None = None,
    backoff: Backoff | None = None,
) -> T:
    """``call()``, tried up to ``tries`` times while it raises one of ``on``.

    The last failure is raised as it is; a set ``stop`` ends the retries at
    once (and cuts the wait short).
    """
    waits = backoff or Backoff(first=1.0)
    attempt = 0
    while True:
        try:
            return call()
        except on as exc:
            attempt += 1
            if attempt >= tries or (stop is not None and stop.is_set()):
                raise
            log.info("%s: retrying after %s", what, exc)
            delay = waits.next()
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
