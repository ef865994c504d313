"""The tray while a request to join waits and once it is refused: the state in
the tooltip, and one notification with the administrator's reason."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path

from pytestqt.qtbot import QtBot

from infra.admin import add_site, reject_request, remove_site, site_settings_toml
from infra.fleetkey import local_pins
from infra.local.stack import LocalStack
from shared.config import dump_toml
from shared.joins import request_id
from tests.gui.conftest import MakeApp


def test_the_tray_waits_for_approval_then_shows_the_rejection_once(
    stack: LocalStack, make_app: MakeApp, qtbot: QtBot, tmp_path: Path
) -> None:
    outputs, admin = stack.outputs, stack.admin_settings()
    site = f"gui-{uuid.uuid4().hex[:6]}"
    key = add_site(admin, outputs["Deployment"], site, outputs["ClientSitePolicyArn"])
    try:
        given = tomllib.loads(site_settings_toml(outputs, key, stack.endpoint))
        given["client"].update(
            {
                "inbox": str(tmp_path / "inbox"),
                "state_dir": str(tmp_path / "state"),
                "poll_seconds": 0.3,
                "fleet_keys": local_pins(stack),
                "join": True,
            }
        )
        config = tmp_path / "config.toml"
        config.write_text(dump_toml(given), encoding="utf-8")
        app = make_app(config)
        tray = app.tray
        qtbot.waitUntil(lambda: "waiting for approval (request " in tray.tooltip, timeout=30_000)
        assert app.agent is not None and app.agent.joiner is not None
        joiner = app.agent.joiner
        qtbot.waitUntil(lambda: bool(joiner.request_id), timeout=30_000)
        assert joiner.request_id == request_id(joiner_site(app), app.agent.client_id)

        reject_request(admin, joiner.request_id, "not one of ours")
        qtbot.waitUntil(lambda: "rejected" in tray.tooltip, timeout=30_000)
        assert "not one of ours" in tray.tooltip
        qtbot.waitUntil(lambda: bool(tray.messages), timeout=10_000)
        title, text = tray.messages[-1]
        assert title == "Joining" and "rejected" in text and "not one of ours" in text
        qtbot.wait(1500)  # further refreshes do not repeat it
        assert len(tray.messages) == 1
    finally:
        remove_site(admin, outputs["Deployment"], site, outputs["ClientSitePolicyArn"])


def joiner_site(app: object) -> str:
    """The site credential's aws:userid, as the desktop found it."""
    import boto3

    from client.gui.app import TrayApp

    assert isinstance(app, TrayApp) and app.agent is not None
    aws = app.agent.settings.aws
    sts = boto3.client(
        "sts",
        endpoint_url=aws.endpoint_url,
        region_name=aws.region,
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
    )
    return str(sts.get_caller_identity()["UserId"])
