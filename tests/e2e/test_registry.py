"""``fpw clients``: an administrator registers, lists and revokes client keys;
a revoked key's queued jobs end as ERROR at once and its later jobs are
refused by the fetcher before any work."""

from __future__ import annotations

import json
from pathlib import Path

from client.engine import Engine
from infra.local.stack import LocalStack
from infra.local.up import System, aws_table
from shared.aws import Aws
from shared.config import dump_toml
from shared.record import Status
from shared.table import JobTable
from tests import samples
from tests.helpers import client_settings, run_fpw, wait_for


def listed(config: Path, client: str) -> dict[str, object]:
    done = run_fpw(config, "clients", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return next(row for row in rows if row["client"] == client)


def test_register_list_revoke_and_register_again(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    admin_config = tmp_path / "admin.toml"
    admin_config.write_text(dump_toml({"aws": aws_table(stack.admin_settings())}))
    settings = client_settings(stack, tmp_path / "desk")
    engine = Engine(settings, Aws(settings.aws, "test-registry"))
    table = JobTable(Aws(stack.admin_settings(), "test-admin").dynamodb, stack.outputs["JobsTable"])
    me = engine.client_id

    def submit(name: str) -> str:
        path = samples.make_text(tmp_path / f"{name}.txt", f"{name} text\n")
        file_id = engine.submit(path, {})
        assert file_id
        engine.wait_uploaded(file_id, 60)
        return file_id

    def final(file_id: str) -> tuple[Status, str]:
        job = wait_for(
            lambda: (j := table.get(file_id)) is not None and j.status.finished and j,
            timeout=60,
            what=f"{file_id} to finish",
        )
        return job.status, job.error or ""

    try:
        bad = run_fpw(admin_config, "clients", "register", "client-04zz", "--label", "x")
        assert bad.returncode == 1 and "client id" in bad.stderr.lower()
        unknown = run_fpw(admin_config, "clients", "revoke", "client-04" + "ab" * 64)
        assert unknown.returncode == 1 and "not registered" in unknown.stderr

        done = run_fpw(admin_config, "clients", "register", me, "--label", "lab 3 microscope")
        assert done.returncode == 0, done.stderr
        assert listed(admin_config, me)["label"] == "lab 3 microscope"
        assert listed(admin_config, me)["revoked"] is None
        table_view = run_fpw(admin_config, "clients", "list")
        assert "lab 3 microscope" in table_view.stdout and "active" in table_view.stdout

        # Queued while no fetcher runs, then revoked: they end at once.
        queued = [submit(f"queued {n}") for n in range(3)]
        revoked = run_fpw(admin_config, "clients", "revoke", me)
        assert revoked.returncode == 0, revoked.stderr
        assert "3 queued job(s) ended" in revoked.stdout
        for file_id in queued:
            status, error = final(file_id)
            assert status is Status.ERROR and error.startswith("client revoked"), error
        assert listed(admin_config, me)["revoked"]
        assert "revoked" in run_fpw(admin_config, "clients", "list").stdout

        # Created after the revocation: the fetcher refuses it before any work.
        system.start_fetcher()
        late = submit("late")
        status, error = final(late)
        assert status is Status.ERROR and error.startswith("client revoked"), error
        assert f'"job": "{late}"' not in system.parts["processor"].output()

        # Registered again: the key works again.
        again = run_fpw(admin_config, "clients", "register", me, "--label", "lab 3 (replaced)")
        assert again.returncode == 0, again.stderr
        assert listed(admin_config, me)["revoked"] is None
        assert final(submit("welcome back"))[0] is Status.COMPLETED
    finally:
        engine.stop()
