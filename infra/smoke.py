"""``fpw infra smoke``: one file through the deployed fleet, as a desktop sends it.

A throwaway site (an IAM user with only the client-site policy) and a
throwaway client key registered for it send one small text file with the
settings ``fpw admin site add`` hands out, and nothing of the
administrator's; the result must come back signed by a pinned fleet key,
decrypt, and describe the file sent (its SHA-256). Registration and site are
removed again however it ends. What desktops need is printed last.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.admin import (
    SiteKey,
    add_site,
    register_client,
    remove_site,
    revoke_client,
    site_settings,
)
from shared.aws import Aws
from shared.clients import Clients
from shared.config import AwsSettings, ClientSettings, Settings
from shared.errors import FpwError

if TYPE_CHECKING:
    from client.engine import Engine

Printer = Callable[[str], None]
KEY_READY_SECONDS = 60.0
"""How long a new IAM access key may take to be accepted (IAM is eventually consistent)."""


def desktop_settings(
    outputs: Mapping[str, str], key: SiteKey, endpoint_url: str | None, home: Path
) -> Settings:
    """A desktop's settings: exactly the site file, plus its own folders."""
    handed = site_settings(outputs, key, endpoint_url)
    settings = Settings()
    settings.aws = AwsSettings(**handed["aws"])
    settings.client = ClientSettings(
        **handed["client"], inbox=home / "inbox", state_dir=home / "state", poll_seconds=1.0
    )
    return settings


def _client_aws(settings: AwsSettings, deadline: float) -> Aws:
    """The client role through the new site key, once IAM accepts the key."""
    while True:
        try:
            return Aws(settings, "fpw-smoke")
        except ClientError as exc:
            if time.monotonic() > deadline:
                raise FpwError(
                    f"the smoke test's site key was not accepted: {exc}",
                    hint="check that the ClientSitePolicy may assume the client role",
                ) from exc
            time.sleep(2.0)


def verify(body: bytes, sent: bytes) -> dict[str, Any]:
    """The result as JSON, refused unless it describes the file sent."""
    try:
        result = json.loads(body)
    except ValueError as exc:
        raise FpwError("the smoke test's result is not JSON") from exc
    if not isinstance(result, dict):
        raise FpwError("the smoke test's result is not a JSON object")
    digest = result.get("sha256")
    if digest is not None and digest != hashlib.sha256(sent).hexdigest():
        raise FpwError("the smoke test's result describes another file (sha256 differs)")
    return result


def run_smoke(
    admin: AwsSettings,
    outputs: Mapping[str, str],
    *,
    timeout: float = 1200.0,
    printer: Printer = print,
) -> None:
    """One job through the deployment; raises ``FpwError`` saying where it stopped."""
    from client.engine import Engine

    # The administrator's settings aimed at this stack's tables and bucket.
    admin = replace(
        admin,
        table=outputs["JobsTable"],
        clients_table=outputs["ClientsTable"],
        bucket=outputs["Bucket"],
    )
    prefix = outputs.get("Deployment", "fpw")
    site = f"smoke-{uuid.uuid4().hex[:8]}"
    policy = outputs["ClientSitePolicyArn"]
    key = add_site(admin, prefix, site, policy)
    printer(f"smoke test: site user {key.user} added")
    try:
        with tempfile.TemporaryDirectory(prefix="fpw-smoke-") as tmp:
            home = Path(tmp)
            settings = desktop_settings(outputs, key, admin.endpoint_url, home)
            aws = _client_aws(settings.aws, time.monotonic() + KEY_READY_SECONDS)
            engine = Engine(settings, aws)
            try:
                _one_job(engine, admin, site, home, timeout, printer)
            finally:
                engine.stop()
                _unregister(admin, engine.client_id, printer)
    finally:
        remove_site(admin, prefix, site, policy)
        printer(f"smoke test: site user {key.user} removed")


def _unregister(admin: AwsSettings, client_id: str, printer: Printer) -> None:
    """Revoked first, which ends a job still queued (it would wake the fleet for
    nobody), then deleted from the registry."""
    try:
        ended = revoke_client(admin, client_id)
    except FpwError:
        ended = []  # never registered: the failure came before
    if ended:
        printer(f"smoke test: its queued job {ended[0]} ended")
    Clients(Aws(admin, "fpw-admin").dynamodb, admin.clients_table).remove(client_id)
    printer("smoke test: client key removed from the registry")


def _one_job(
    engine: Engine, admin: AwsSettings, site: str, home: Path, timeout: float, printer: Printer
) -> None:
    from client.state import Phase

    register_client(admin, engine.client_id, f"fpw infra smoke ({site})")
    sent = f"fpw smoke test {uuid.uuid4()}\n".encode()
    path = home / "smoke.txt"
    path.write_bytes(sent)
    started = time.monotonic()
    file_id = engine.submit(path, {}, source="smoke")
    if file_id is None:
        raise FpwError("the smoke test's file was not taken")
    printer(
        f"smoke test: job {file_id} queued; waiting up to {timeout:.0f} s "
        "(a fleet at zero tasks starts an instance first: allow 10-15 minutes)"
    )
    try:
        drop = engine.wait(file_id, timeout)
    except (ClientError, BotoCoreError) as exc:
        raise FpwError(f"smoke test: AWS refused the desktop's call: {exc}", job=file_id) from exc
    if drop.phase is not Phase.DONE or drop.result_path is None:
        raise FpwError(f"smoke test failed: {drop.error}", job=file_id)
    result = verify(Path(drop.result_path).read_bytes(), sent)
    seconds = time.monotonic() - started
    kind = result.get("kind", "?")
    printer(f"smoke test passed: job {file_id}, {kind} result in {seconds:.0f} s")


def desktop_needs(outputs: Mapping[str, str], endpoint_url: str | None = None) -> str:
    """What every desktop of this deployment needs, keys aside (``fpw admin site add``)."""
    placeholder = SiteKey("<site user>", "<from fpw admin site add>", "<from fpw admin site add>")
    handed = site_settings(outputs, placeholder, endpoint_url)
    lines = [
        "Desktops need a settings file from `fpw admin site add SITE --output SITE.toml`",
        "(one per site, secret), which holds:",
    ]
    for group, values in handed.items():
        for name, value in values.items():
            if value is None or name in ("access_key_id", "secret_access_key"):
                continue
            shown = ", ".join(value) if isinstance(value, list) else value
            lines.append(f"  {group}.{name} = {shown}")
    lines.append("  aws.access_key_id, aws.secret_access_key: the site's own key")
    lines.append(
        "and each desktop's key registered: `fpw clients register CLIENT_ID --label NAME` "
        "(the desktop prints its id with `fpw client --show-id`)."
    )
    return "\n".join(lines)
