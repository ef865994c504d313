"""Client key administration: who may submit jobs.

Registrations live in the clients table, which none of the three roles can
write: only an administrator's identity (or the local stack's admin) can.
Sites (below) are the IAM users whose keys desktops use to assume the client
role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared.aws import BOTO_CONFIG, Aws
from shared.config import AwsSettings
from shared.errors import ConfigError, FpwError
from shared.record import iso, utc_now


def register_client(settings: AwsSettings, client_id: str, name: str) -> None:
    """Admin: allow a client key to submit jobs (or re-allow a revoked one)."""
    aws = Aws(settings, "fpw-admin")
    aws.dynamodb.put_item(
        TableName=settings.clients_table,
        Item={
            "client": {"S": client_id},
            "name": {"S": name},
            "registered": {"S": iso(utc_now())},
        },
    )


def revoke_client(settings: AwsSettings, client_id: str) -> bool:
    """Admin: refuse further jobs from a key; False if it was never registered."""
    aws = Aws(settings, "fpw-admin")
    try:
        aws.dynamodb.update_item(
            TableName=settings.clients_table,
            Key={"client": {"S": client_id}},
            UpdateExpression="SET revoked = :now",
            ConditionExpression="attribute_exists(#c)",
            ExpressionAttributeNames={"#c": "client"},
            ExpressionAttributeValues={":now": {"S": iso(utc_now())}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


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


def site_user(prefix: str, site: str) -> str:
    if not site.replace("-", "").isalnum():
        raise ConfigError(f"site name {site!r} must be letters, digits and dashes")
    return f"{prefix}-site-{site}"


def _iam(settings: AwsSettings) -> Any:
    aws = Aws(settings, "fpw-admin")
    return aws.session.client("iam", endpoint_url=settings.endpoint_url, config=BOTO_CONFIG)


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
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    if len(keys) >= 2:
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
    iam = _iam(settings)
    user = site_user(prefix, site)
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.detach_user_policy(UserName=user, PolicyArn=policy_arn)
    iam.delete_user(UserName=user)
