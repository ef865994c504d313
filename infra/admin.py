"""Client key administration: who may submit jobs.

Registrations live in the clients table, which none of the three roles can
write: only an administrator's identity (or the local stack's admin) can.
Sites (below) are the IAM users whose keys desktops use to assume the client
role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra import fleetkey
from shared import joins, transitions
from shared.aws import Aws
from shared.clients import Clients, Registration
from shared.config import AwsSettings, FetcherSettings
from shared.errors import ClaimLost, ConfigError, FpwError
from shared.joins import JoinRequest, JoinState, JoinTable
from shared.reasons import clean_reason
from shared.record import Status, iso, utc_now
from shared.signing import public_key_from_client_id
from shared.table import JobTable

REVOKED_REASON = "client revoked: an administrator revoked this computer's key"


def register_client(settings: AwsSettings, client_id: str, label: str) -> None:
    """Admin: allow a client key to submit jobs (or re-allow a revoked one)."""
    public_key_from_client_id(client_id)  # refuse a malformed id before storing it
    if not label.strip():
        raise ConfigError("a client needs a label (who or what this computer is)")
    aws = Aws(settings, "fpw-admin")
    Clients(aws.dynamodb, settings.clients_table).register(client_id, label.strip(), iso(utc_now()))


def revoke_client(
    settings: AwsSettings,
    client_id: str,
    retention_seconds: int = FetcherSettings.result_retention_seconds,
) -> list[str]:
    """Admin: refuse further jobs from a key and end its queued ones; the jobs ended.

    Fetchers check the registry at every claim, so a job created after this
    ends in ERROR too; jobs already being processed finish.
    """
    aws = Aws(settings, "fpw-admin")
    now = utc_now()
    if not Clients(aws.dynamodb, settings.clients_table).revoke(client_id, iso(now)):
        raise FpwError(
            f"{client_id[:24]}… is not registered",
            hint="`fpw clients list` shows the registered keys",
        )
    table = JobTable(aws.dynamodb, settings.table)
    expires = int(now.timestamp()) + retention_seconds
    ended: list[str] = []
    for job in table.of_client(client_id):
        if job.status is not Status.QUEUED:
            continue
        try:
            table.apply(
                job.file, transitions.fail_queued(job.created, iso(now), REVOKED_REASON, expires)
            )
        except ClaimLost:
            continue  # claimed meanwhile: its fetcher refuses it
        ended.append(job.file)
    return ended


def list_clients(settings: AwsSettings) -> list[Registration]:
    """Admin: every registered key, newest registration first."""
    return Clients(Aws(settings, "fpw-admin").dynamodb, settings.clients_table).all()


# ---- Join requests: a desktop asks, an administrator decides.


def _joins(settings: AwsSettings) -> JoinTable:
    return JoinTable(Aws(settings, "fpw-admin").dynamodb, settings.joins_table)


def join_requests(settings: AwsSettings, now: float | None = None) -> tuple[list[JoinRequest], int]:
    """Admin: pending requests, newest first, capped per site credential; and how
    many more are waiting beyond the cap."""
    return joins.listed(_joins(settings).every(), utc_now().timestamp() if now is None else now)


def approve_request(
    settings: AwsSettings, request_id: str, label: str | None = None, now: float | None = None
) -> JoinRequest:
    """Admin: register the request's key (as ``register_client`` does), then mark it
    approved so the desktop starts sending."""
    table = _joins(settings)
    request = table.find(request_id)
    state = joins.state_at(request, utc_now().timestamp() if now is None else now)
    if state is not JoinState.PENDING:
        raise FpwError(
            f"join request {request.id} is {state.value}",
            hint="the desktop files a new request when it is started again with client.join on",
        )
    register_client(settings, request.client, label or f"{request.computer} ({request.user})")
    table.decide(request, JoinState.APPROVED)
    return request


def reject_request(settings: AwsSettings, request_id: str, reason: str = "") -> JoinRequest:
    """Admin: refuse a request; the desktop shows the reason and sends nothing."""
    table = _joins(settings)
    request = table.find(request_id)
    if request.state is JoinState.APPROVED:
        raise FpwError(
            f"join request {request.id} was approved already",
            hint=f"revoke the key instead: `fpw clients revoke {request.client}`",
        )
    table.decide(request, JoinState.REJECTED, clean_reason(reason) if reason else "")
    return request


# ---- Sites: the credentials of desktops.
#
# A desktop's base credentials are an IAM user's access key that can do one
# thing, assume the client role (the template's ClientSitePolicy). One user
# per site (a lab, an office) keeps revocation and rotation per site.

SITE_PATH = "/fpw/sites/"


@dataclass
class SiteKey:
    user: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


def site_settings(
    outputs: Mapping[str, str], key: SiteKey, endpoint_url: str | None = None
) -> dict[str, dict[str, Any]]:
    """Everything a site's desktops need, from the stack's outputs: a settings file
    that works as it is (the desktop adds only its own folders).

    Names come from the outputs, never from the defaults: the bucket carries the
    account and region, and the tables the stack's prefix. ``endpoint_url`` is
    only for the local stack.
    """
    aws: dict[str, Any] = {
        "region": outputs["Region"],
        "endpoint_url": endpoint_url,
        "access_key_id": key.access_key_id,
        "secret_access_key": key.secret_access_key,
        "role_arn": outputs["ClientRoleArn"],
        "table": outputs["JobsTable"],
        "clients_table": outputs["ClientsTable"],
        "joins_table": outputs["JoinsTable"],
        "bucket": outputs["Bucket"],
    }
    client: dict[str, Any] = {}
    if outputs.get("ReleaseBucket"):
        client["update_url"] = f"s3://{outputs['ReleaseBucket']}/releases"
    pins = fleetkey.pins_from_outputs(dict(outputs))
    if pins:
        client["fleet_keys"] = pins
    return {"aws": aws, "client": client}


def site_settings_toml(
    outputs: Mapping[str, str], key: SiteKey, endpoint_url: str | None = None
) -> str:
    """``site_settings`` as the TOML file a desktop uses (``fpw client --config``)."""
    from shared.config import dump_toml

    head = f"# fpw desktop settings for site user {key.user}: secret, keep owner-only\n"
    text = head + dump_toml(site_settings(outputs, key, endpoint_url))
    if not fleetkey.pins_from_outputs(dict(outputs)):
        text += fleetkey.pins_toml([])
    return text


def site_user(prefix: str, site: str) -> str:
    if not site.replace("-", "").isalnum():
        raise ConfigError(f"site name {site!r} must be letters, digits and dashes")
    return f"{prefix}-site-{site}"


def _iam(settings: AwsSettings) -> Any:
    return Aws(settings, "fpw-admin").client("iam")


def add_site(settings: AwsSettings, prefix: str, site: str, policy_arn: str) -> SiteKey:
    """Admin: a user for the site with only the client-site policy, and its first key."""
    iam = _iam(settings)
    user = site_user(prefix, site)
    iam.create_user(UserName=user, Path=SITE_PATH, Tags=[{"Key": "fpw-site", "Value": site}])
    iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return SiteKey(user, key["AccessKeyId"], key["SecretAccessKey"])


def rotate_site(settings: AwsSettings, prefix: str, site: str) -> SiteKey:
    """Admin: a new key beside the current one (IAM allows two); retire the old one later."""
    iam = _iam(settings)
    user = site_user(prefix, site)
    if len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) >= 2:
        raise FpwError(
            f"site {site} already has two keys",
            hint=f"run `fpw admin site retire {site}` once every desktop has the newest",
        )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return SiteKey(user, key["AccessKeyId"], key["SecretAccessKey"])


def retire_site_keys(settings: AwsSettings, prefix: str, site: str) -> list[str]:
    """Admin: delete every key of the site but the newest; the ids deleted."""
    iam = _iam(settings)
    user = site_user(prefix, site)
    keys = sorted(
        iam.list_access_keys(UserName=user)["AccessKeyMetadata"], key=lambda k: k["CreateDate"]
    )
    retired = [k["AccessKeyId"] for k in keys[:-1]]
    for key_id in retired:
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)
    return retired


def remove_site(settings: AwsSettings, prefix: str, site: str, policy_arn: str) -> None:
    """Admin: the site's desktops lose access at once (their role sessions end within the hour)."""
    _remove_site_user(_iam(settings), site_user(prefix, site), policy_arn)


def _remove_site_user(iam: Any, user: str, policy_arn: str) -> None:
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.detach_user_policy(UserName=user, PolicyArn=policy_arn)
    iam.delete_user(UserName=user)


def remove_all_sites(settings: AwsSettings, policy_arn: str) -> list[str]:
    """Admin, before a destroy: every user holding the client-site policy loses it
    (IAM refuses to delete a policy still attached); the users removed or detached.

    Site users (path ``/fpw/sites/``) are deleted with their keys; any other
    user someone attached the policy to is only detached from it.
    """
    iam = _iam(settings)
    pages = iam.get_paginator("list_entities_for_policy").paginate(
        PolicyArn=policy_arn, EntityFilter="User"
    )
    names = [user["UserName"] for page in pages for user in page.get("PolicyUsers", [])]
    for name in names:
        if iam.get_user(UserName=name)["User"].get("Path") == SITE_PATH:
            _remove_site_user(iam, name, policy_arn)
        else:
            iam.detach_user_policy(UserName=name, PolicyArn=policy_arn)
    return names
