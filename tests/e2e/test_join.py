"""Joining by request: a desktop with only its site's settings asks to join, an
administrator approves, rejects or lets it expire; and what one site
credential can and cannot do with requests (IAM is enforced on the local stack,
``dynamodb:LeadingKeys`` included)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from client.agent import Agent
from client.engine import Engine
from client.state import Phase
from client.tracker import TrayState
from infra import fleetkey
from infra.admin import (
    SiteKey,
    add_site,
    approve_request,
    reject_request,
    remove_site,
    site_settings_toml,
)
from infra.local.stack import LocalStack
from infra.local.up import System, aws_table
from shared.aws import Aws
from shared.config import Settings, dump_toml, load_settings
from shared.errors import FpwError
from shared.joins import JoinRequest, JoinTable, request_id
from shared.keys import load_or_create_key
from shared.signing import client_id
from tests.helpers import run_fpw, wait_for


@dataclass
class Site:
    key: SiteKey
    userid: str
    config: Path
    """A desktop's settings: the site's file plus its own folders, ``client.join`` on."""
    state_dir: Path
    inbox: Path

    def client(self) -> str:
        return client_id(load_or_create_key(self.state_dir).public_key())

    def session(self) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=self.key.access_key_id,
            aws_secret_access_key=self.key.secret_access_key,
            region_name="us-east-1",
        )


@contextlib.contextmanager
def _site(stack: LocalStack, home: Path, **client: Any) -> Iterator[Site]:
    outputs = stack.outputs
    name = f"lab-{uuid.uuid4().hex[:6]}"
    key = add_site(
        stack.admin_settings(), outputs["Deployment"], name, outputs["ClientSitePolicyArn"]
    )
    try:
        given = tomllib.loads(site_settings_toml(outputs, key, stack.endpoint))
        inbox, state_dir = home / "inbox", home / "state"
        given["client"].update(
            {
                "inbox": str(inbox),
                "state_dir": str(state_dir),
                "poll_seconds": 0.3,
                "stable_seconds": 0.5,
                "fleet_keys": fleetkey.local_pins(stack),
                "join": True,
                **client,
            }
        )
        config = home / "desktop.toml"
        home.mkdir(parents=True, exist_ok=True)
        config.write_text(dump_toml(given), encoding="utf-8")
        sts = boto3.client(
            "sts",
            endpoint_url=stack.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
        )
        userid = sts.get_caller_identity()["UserId"]
        yield Site(key, userid, config, state_dir, inbox)
    finally:
        remove_site(
            stack.admin_settings(), outputs["Deployment"], name, outputs["ClientSitePolicyArn"]
        )


@pytest.fixture
def site(stack: LocalStack, tmp_path: Path) -> Iterator[Site]:
    with _site(stack, tmp_path / "desktop") as made:
        yield made


@pytest.fixture
def admin_config(stack: LocalStack, tmp_path: Path) -> Path:
    path = tmp_path / "admin.toml"
    path.write_text(dump_toml({"aws": aws_table(stack.admin_settings())}), encoding="utf-8")
    return path


def _listed(admin_config: Path, client: str) -> dict[str, Any]:
    answer = run_fpw(admin_config, "clients", "requests", "--json")
    assert answer.returncode == 0, answer.stderr
    for line in answer.stdout.splitlines():
        row: dict[str, Any] = json.loads(line)
        if row["client"] == client:
            return row
    return {}


def test_a_request_approved_with_the_admin_command_lets_a_dropped_file_complete(
    stack: LocalStack, system: System, site: Site, admin_config: Path
) -> None:
    me = site.client()
    system.start_fetcher()
    client = system.start_client(site.config)
    row: dict[str, Any] = wait_for(
        lambda: _listed(admin_config, me), timeout=60, what="the join request"
    )
    assert row["id"] == request_id(site.userid, me)
    assert row["site"] == site.userid and row["computer"] and row["user"]
    wait_for(lambda: "waiting for approval" in client.output(), timeout=30, what="the wait")

    site.inbox.mkdir(parents=True, exist_ok=True)
    (site.inbox / "note.txt").write_text("hello from a new computer\n", encoding="utf-8")
    # Nothing is sent while the request waits: the key has no job in the table.
    jobs = Aws(stack.admin_settings()).dynamodb.query(
        TableName=stack.outputs["JobsTable"],
        IndexName="client-index",
        KeyConditionExpression="client = :c",
        ExpressionAttributeValues={":c": {"S": me}},
    )
    assert jobs["Count"] == 0

    approved = run_fpw(admin_config, "clients", "approve", row["id"])
    assert approved.returncode == 0, approved.stderr
    assert "approved" in approved.stdout
    listing = run_fpw(admin_config, "clients", "list", "--json")
    assert any(json.loads(line)["client"] == me for line in listing.stdout.splitlines())
    assert not _listed(admin_config, me)  # decided: no longer waiting

    result = site.inbox / "results" / "note.txt.result.json"
    wait_for(
        lambda: result.exists() or (not client.alive() and "died"),
        timeout=90,
        what="the result after approval",
    )
    assert json.loads(result.read_text(encoding="utf-8"))["kind"] == "text"
    assert "approved" in client.output()


def _agent_until(agent: Agent, words: str) -> str:
    def said() -> str:
        _, text = agent.status()
        return text if words in text else ""

    return wait_for(said, timeout=60, what=f"the tray to say {words!r}")


def test_a_rejected_request_ends_with_the_reason_in_the_tray_and_the_log(
    site: Site, caplog: pytest.LogCaptureFixture, stack: LocalStack
) -> None:
    caplog.set_level(logging.INFO)
    agent = Agent(load_settings(site.config))
    agent.start(watch=False)
    try:
        rid = request_id(site.userid, site.client())
        _agent_until(agent, f"waiting for approval (request {rid})")
        assert agent.status()[0] is TrayState.PAUSED and agent.engine.paused
        agent.set_paused(False)  # the user's resume cannot send before approval
        assert agent.engine.paused
        reject_request(stack.admin_settings(), rid, "unknown computer\x1b[31m")
        text = _agent_until(agent, "rejected")
        assert agent.status()[0] is TrayState.ERROR
        assert "unknown computer" in text and "\x1b" not in text
        assert agent.engine.paused
        assert any(
            "rejected" in r.getMessage() and r.levelno >= logging.ERROR for r in caplog.records
        )
        # A decided request cannot be approved afterwards by mistake.
        with pytest.raises(FpwError, match="rejected"):
            approve_request(stack.admin_settings(), rid)
    finally:
        agent.stop()


def test_an_expired_request_ends_with_a_clear_message_and_cannot_be_approved(
    stack: LocalStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with _site(stack, tmp_path / "late", join_expiry_hours=3 / 3600) as site:
        agent = Agent(load_settings(site.config))
        agent.start(watch=False)
        try:
            text = _agent_until(agent, "expired")
            assert agent.status()[0] is TrayState.ERROR
            assert "Restart fpw to ask again" in text
            assert any("expired" in r.getMessage() for r in caplog.records)
            with pytest.raises(FpwError, match="expired"):
                approve_request(stack.admin_settings(), request_id(site.userid, site.client()))
        finally:
            agent.stop()


def _denied(call: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    answer = caught.value.response
    assert answer.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403, answer


def test_a_site_credential_reaches_only_its_own_requests_and_cannot_approve(
    stack: LocalStack, tmp_path: Path, site: Site
) -> None:
    joins = stack.outputs["JoinsTable"]
    with _site(stack, tmp_path / "other") as other:
        mine = site.session().client("dynamodb", endpoint_url=stack.endpoint)
        theirs_db = other.session().client("dynamodb", endpoint_url=stack.endpoint)
        theirs = JoinRequest(
            site=other.userid,
            client=other.client(),
            computer="theirs",
            user="them",
            requested="2026-01-01T00:00:00+00:00",
            expires=2_000_000_000,
        )
        JoinTable(theirs_db, joins).file(theirs)
        own = dataclasses.replace(theirs, site=site.userid, client=site.client())
        JoinTable(mine, joins).file(own)  # its own partition: allowed
        assert JoinTable(mine, joins).get(site.userid, own.client) == own

        key = {"site": {"S": other.userid}, "client": {"S": theirs.client}}
        _denied(lambda: mine.get_item(TableName=joins, Key=key))
        _denied(
            lambda: mine.query(
                TableName=joins,
                KeyConditionExpression="site = :s",
                ExpressionAttributeValues={":s": {"S": other.userid}},
            )
        )
        _denied(lambda: mine.scan(TableName=joins))
        forged = {**key, "computer": {"S": "mine now"}, "expires": {"N": "2000000000"}}
        _denied(lambda: mine.put_item(TableName=joins, Item=forged))
        # Approving is writing a decision or a registration: neither is the site's.
        _denied(
            lambda: mine.update_item(
                TableName=joins,
                Key={"site": {"S": site.userid}, "client": {"S": own.client}},
                UpdateExpression="SET #s = :a",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":a": {"S": "approved"}},
            )
        )
        _denied(lambda: mine.delete_item(TableName=joins, Key=key))
        _denied(
            lambda: mine.put_item(
                TableName=stack.outputs["ClientsTable"],
                Item={"client": {"S": own.client}, "label": {"S": "me"}},
            )
        )
        # Their request is untouched.
        admin = JoinTable(Aws(stack.admin_settings()).dynamodb, joins)
        assert admin.get(other.userid, theirs.client) == theirs


def test_a_pending_key_cannot_submit_work(
    stack: LocalStack, system: System, site: Site, tmp_path: Path
) -> None:
    """A desktop that sends anyway, with the client role its site key can assume,
    gets nothing processed: a request is not a registration."""
    settings: Settings = load_settings(site.config)
    agent = Agent(settings)
    agent.start(watch=False)
    try:
        _agent_until(agent, "waiting for approval")
    finally:
        agent.stop()
    system.start_fetcher()
    engine = Engine(settings, Aws(settings.aws, "pending"))
    done = threading.Event()
    runner = threading.Thread(
        target=lambda: engine.run(until=done.is_set), daemon=True, name="test-engine"
    )
    try:
        note = tmp_path / "sneaky.txt"
        note.write_text("not yet\n", encoding="utf-8")
        file_id = engine.submit(note, {}, source="api")
        assert file_id is not None
        runner.start()
        drop = engine.wait(file_id, timeout=120)
        assert drop.phase is Phase.FAILED
        assert "not registered" in (drop.error or "")
    finally:
        done.set()
        if runner.is_alive():
            runner.join(timeout=30)
        engine.stop()
