"""``fpw admin site add`` hands a site everything its desktops need: a desktop
whose only deployment settings are that file completes a job."""

from __future__ import annotations

import json
import stat
import tomllib
import uuid
from pathlib import Path

from infra.local.stack import LocalStack
from infra.local.up import System, aws_table
from shared.config import dump_toml
from tests.helpers import run_fpw, wait_for


def test_a_desktop_with_only_the_site_settings_completes_a_job(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    admin_config = tmp_path / "admin.toml"
    admin_config.write_text(dump_toml({"aws": aws_table(stack.admin_settings())}))
    site = f"lab-{uuid.uuid4().hex[:6]}"
    handed = tmp_path / "handed" / "site.toml"
    # This test's own deployment, named as the local stack names them.
    deployment = ("--stack-name", f"{stack.outputs['Deployment']}-local")
    added = run_fpw(
        admin_config, "admin", "site", "add", site, *deployment, "--output", str(handed)
    )
    assert added.returncode == 0, added.stderr
    assert stat.S_IMODE(handed.stat().st_mode) == 0o600
    try:
        given = tomllib.loads(handed.read_text(encoding="utf-8"))
        assert given["aws"]["secret_access_key"] not in added.stdout
        # The deployment's names, not the defaults (the bucket carries account and region).
        assert given["aws"]["bucket"] == stack.outputs["Bucket"] != "fpw-data"
        assert given["aws"]["role_arn"] == stack.outputs["ClientRoleArn"]
        assert given["aws"]["endpoint_url"] == stack.endpoint
        assert given["client"]["fleet_keys"]
        assert given["client"]["update_url"] == f"s3://{stack.outputs['ReleaseBucket']}/releases"

        # The desktop adds only its own folders.
        inbox, state_dir = tmp_path / "inbox", tmp_path / "state"
        given["client"].update(
            {"inbox": str(inbox), "state_dir": str(state_dir), "poll_seconds": 0.5}
        )
        config = tmp_path / "desktop.toml"
        config.write_text(dump_toml(given), encoding="utf-8")
        system.register_client(state_dir, "site desktop")
        system.start_fetcher()
        client = system.start_client(config)
        inbox.mkdir(exist_ok=True)
        (inbox / "note.txt").write_text("hello from a site\n", encoding="utf-8")
        results = inbox / "results"
        wait_for(
            lambda: any(results.glob("note.txt.result.json")) or (not client.alive() and "died"),
            timeout=90,
            what="the site desktop's result",
        )
        assert client.alive(), client.output()
        result = json.loads((results / "note.txt.result.json").read_text(encoding="utf-8"))
        assert result["kind"] == "text"
    finally:
        removed = run_fpw(admin_config, "admin", "site", "remove", site, *deployment)
        assert removed.returncode == 0, removed.stderr
