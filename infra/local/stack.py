"""The local stack: the project's template deployed into moto's server on
loopback, with IAM enforcement on.

Start-up: run the server (``infra.local.motoserver``) as a child process, create an
admin user while moto still accepts anonymous calls, switch enforcement on,
then deploy ``infra/template.yaml`` through CloudFormation with the admin's
keys. From then on every call is signed and authorized: each part assumes its
own role from the template, so the roles under test are the production ones.

moto keeps its state in memory. Given a ``data_dir``, the stack keeps its
data across restarts: ``save()`` copies the tables' items and the buckets'
objects there through the AWS APIs (with the admin's key), and a new stack
restores them right after deploying the template. IAM users and keys are not
kept: the admin's key is new at each start and settings files are rewritten.

moto's own admin API (``/moto-api/``: reset, switching IAM enforcement off,
a dump of all state) answers only requests that carry the stack's token
(header ``X-Fpw-Stack-Token``), kept in an owner-only file beside
``stack.json``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.local.up import free_port, spawn, stop_process
from shared.config import AwsSettings
from shared.errors import ConfigError, FpwError
from shared.private import private_dir, write_private

log = logging.getLogger(__name__)

REGION = "us-east-1"
ADMIN_USER = "fpw-admin"
ROLE_OUTPUTS = {"client": "ClientRoleArn", "fetcher": "FetcherRoleArn", "watcher": "WatcherRoleArn"}
TOKEN_HEADER = "X-Fpw-Stack-Token"
TOKEN_FILE = "admin-api.token"
KEPT_TABLES = ("JobsTable", "ClientsTable", "JoinsTable")
"""The template's outputs whose tables ``save()`` keeps."""
KEPT_BUCKETS = ("Bucket", "ReleaseBucket")
"""The template's outputs whose buckets ``save()`` keeps."""
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass
class LocalStack:
    endpoint: str
    region: str
    outputs: dict[str, str]
    admin_key: tuple[str, str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    token: str = field(default="", repr=False)
    """Opens moto's admin API (``/moto-api/``); see ``admin_api``."""
    data_dir: Path | None = None
    """Where ``save()`` keeps the data; None keeps nothing."""
    _saved: dict[str, str] = field(default_factory=dict, repr=False)
    _save_failed: bool = field(default=False, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def _admin_client(self, service: str) -> Any:
        """A client with the admin's key, made once (saving runs every few seconds)."""
        if service not in self._clients:
            self._clients[service] = _client(service, self.endpoint, self.admin_key)
        return self._clients[service]

    def admin_api(self, path: str, data: bytes = b"") -> int:
        """POST to moto's admin API with the token; the HTTP status."""
        import requests

        answer = requests.post(
            f"{self.endpoint}/moto-api/{path}",
            data=data,
            headers={TOKEN_HEADER: self.token},
            timeout=10,
        )
        return int(answer.status_code)

    def save(self) -> None:
        """Copy the tables' items and the buckets' objects into ``data_dir``.

        Each table is one file, rewritten (atomically) only when it changed;
        objects are fetched only when new or changed, and an index written
        after them names what a restore puts back.
        """
        if self.data_dir is None or not self.outputs:
            return
        private_dir(self.data_dir)
        dynamodb = self._admin_client("dynamodb")
        for output in KEPT_TABLES:
            if output not in self.outputs:
                continue
            pages = dynamodb.get_paginator("scan").paginate(TableName=self.outputs[output])
            kept = [_storable(item) for page in pages for item in page.get("Items", [])]
            kept.sort(key=lambda item: json.dumps(item, sort_keys=True))
            text = json.dumps({"items": kept}, sort_keys=True)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if self._saved.get(output) != digest:
                write_private(self.data_dir / "tables" / f"{output}.json", text)
                self._saved[output] = digest
        s3 = self._admin_client("s3")
        for output in KEPT_BUCKETS:
            if output in self.outputs:
                self._save_bucket(s3, output)

    def _save_bucket(self, s3: Any, output: str) -> None:
        assert self.data_dir is not None
        folder = self.data_dir / "objects" / output
        index_file = self.data_dir / "objects" / f"{output}.json"
        old: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(OSError, ValueError):
            old = json.loads(index_file.read_text(encoding="utf-8"))
        index: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.outputs[output]):
            for entry in page.get("Contents", []):
                key, etag = entry["Key"], entry["ETag"]
                # Named by digest: a key may be longer than a file name may be.
                name = hashlib.sha256(key.encode("utf-8")).hexdigest()
                kept = old.get(key)
                if kept and kept["etag"] == etag and (folder / name).is_file():
                    index[key] = kept
                    continue
                try:
                    answer = s3.get_object(Bucket=self.outputs[output], Key=key)
                except s3.exceptions.NoSuchKey:
                    continue  # deleted since the listing
                write_private(folder / name, answer["Body"].read())
                index[key] = {
                    "etag": etag,
                    "file": name,
                    "content_type": answer.get("ContentType"),
                    "metadata": answer.get("Metadata", {}),
                }
        if index == old:
            return
        write_private(index_file, json.dumps(index, sort_keys=True))
        for key, entry in old.items():
            if key not in index:
                (folder / entry["file"]).unlink(missing_ok=True)

    def save_quietly(self) -> None:
        """``save()`` for a timer: a failure is logged once, and the next try goes on."""
        try:
            self.save()
        except Exception as exc:
            if not self._save_failed:
                log.warning("the local stack's data could not be saved (will retry): %s", exc)
            self._save_failed = True
        else:
            self._save_failed = False

    def restore(self) -> int:
        """Put back what ``save()`` kept (after the template is deployed); items put back."""
        if self.data_dir is None or not (self.data_dir / "tables").is_dir():
            return 0
        s3 = self._admin_client("s3")
        for output in KEPT_BUCKETS:
            index_file = self.data_dir / "objects" / f"{output}.json"
            if output not in self.outputs or not index_file.is_file():
                continue
            index = json.loads(index_file.read_text(encoding="utf-8"))
            for key, entry in index.items():
                path = self.data_dir / "objects" / output / entry["file"]
                if not path.is_file():
                    continue
                extra: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
                if entry.get("content_type"):
                    extra["ContentType"] = entry["content_type"]
                s3.put_object(Bucket=self.outputs[output], Key=key, Body=path.read_bytes(), **extra)
        dynamodb = self._admin_client("dynamodb")
        count = 0
        for output in KEPT_TABLES:
            path = self.data_dir / "tables" / f"{output}.json"
            if output not in self.outputs or not path.is_file():
                continue
            items = [_loaded(i) for i in json.loads(path.read_text(encoding="utf-8"))["items"]]
            for start in range(0, len(items), 25):
                batch = {
                    self.outputs[output]: [
                        {"PutRequest": {"Item": item}} for item in items[start : start + 25]
                    ]
                }
                while batch:
                    answer = dynamodb.batch_write_item(RequestItems=batch)
                    batch = answer.get("UnprocessedItems") or {}
            count += len(items)
        log.info("local stack data restored from %s (%d items)", self.data_dir, count)
        return count

    def admin_settings(self) -> AwsSettings:
        return AwsSettings(
            region=self.region,
            endpoint_url=self.endpoint,
            access_key_id=self.admin_key[0],
            secret_access_key=self.admin_key[1],
            table=self.outputs["JobsTable"],
            clients_table=self.outputs["ClientsTable"],
            joins_table=self.outputs["JoinsTable"],
            bucket=self.outputs["Bucket"],
        )

    def role_settings(self, role: str) -> AwsSettings:
        if role not in ROLE_OUTPUTS:
            raise ConfigError(f"unknown role {role!r}; expected one of {sorted(ROLE_OUTPUTS)}")
        return replace(self.admin_settings(), role_arn=self.outputs[ROLE_OUTPUTS[role]])

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "outputs": self.outputs,
            "admin_access_key_id": self.admin_key[0],
            "admin_secret_access_key": self.admin_key[1],
        }


def _client(service: str, endpoint: str, key: tuple[str, str] | None = None) -> Any:
    import boto3

    creds = key or ("bootstrap", "bootstrap")
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1],
    )


def _wait_ready(
    endpoint: str, token: str, process: subprocess.Popen[bytes], log_file: Path | None
) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            where = f"; see {log_file}" if log_file else ""
            raise FpwError(f"the local stack's server exited at start-up{where}")
        with contextlib.suppress(requests.RequestException):
            answer = requests.get(f"{endpoint}/moto-api/", headers={TOKEN_HEADER: token}, timeout=2)
            if answer.status_code < 500:
                return
        time.sleep(0.1)
    raise FpwError("the local stack's server did not start within 60 s")


def _bootstrap_admin(stack: LocalStack) -> tuple[str, str]:
    """Create the admin user while moto still accepts anonymous calls, then enforce IAM."""
    iam = _client("iam", stack.endpoint)
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(
        UserName=ADMIN_USER, PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY)
    )
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    status = stack.admin_api("reset-auth", b"0")
    if status != 200:
        raise FpwError(f"the local stack refused to switch IAM enforcement on (HTTP {status})")
    return key["AccessKeyId"], key["SecretAccessKey"]


AS_TEXT = {"B": "B64", "BS": "BS64"}
"""Binary types and the type keys their base64 text is kept under."""


def _storable(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as JSON can hold it: binary values (``B``, ``BS``: an inline
    result, say) become base64 text under their own type keys (``B64``, ``BS64``)."""

    def text(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return {name: _converted(value, AS_TEXT, text) for name, value in item.items()}


def _loaded(item: dict[str, Any]) -> dict[str, Any]:
    """``_storable`` undone."""
    as_bytes = {v: k for k, v in AS_TEXT.items()}
    return {name: _converted(value, as_bytes, base64.b64decode) for name, value in item.items()}


def _converted(
    value: dict[str, Any], kinds: dict[str, str], leaf: Callable[[Any], Any]
) -> dict[str, Any]:
    """One attribute value (``{type: value}``), maps and lists walked by type, so
    that a map's own keys (a job's params) are never taken for types; a type in
    ``kinds`` is renamed, its value (or each of a set's) passed through ``leaf``."""
    ((kind, inner),) = value.items()
    if kind == "M":
        return {"M": {k: _converted(v, kinds, leaf) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_converted(v, kinds, leaf) for v in inner]}
    if kind not in kinds:
        return value
    return {kinds[kind]: [leaf(b) for b in inner] if kind.startswith("BS") else leaf(inner)}


def _deploy(
    endpoint: str, admin: tuple[str, str], prefix: str, parameters: dict[str, str] | None = None
) -> dict[str, str]:
    from infra.deploy import TEMPLATE, template_body
    from infra.fleetkey import pin_of_admin

    cfn = _client("cloudformation", endpoint, admin)
    name = f"{prefix}-local"
    # The fleet key is published like a deployment's: `fpw admin site add` prints the pin.
    values = {"Prefix": prefix, "FleetKeys": pin_of_admin(admin[1]), **(parameters or {})}
    cfn.create_stack(
        StackName=name,
        TemplateBody=template_body(TEMPLATE),  # what `fpw infra deploy` sends
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    deadline = time.monotonic() + 120
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if (
            status.endswith("FAILED")
            or status.startswith("ROLLBACK")
            or time.monotonic() > deadline
        ):
            events = cfn.describe_stack_events(StackName=name)["StackEvents"]
            reasons = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                for e in events
                if "FAILED" in e["ResourceStatus"]
            ]
            raise FpwError(f"the template did not deploy ({status}): {'; '.join(reasons)}")
        time.sleep(0.2)


def start_local_stack(
    state_dir: Path,
    port: int = 0,
    prefix: str = "fpw",
    log_file: Path | None = None,
    host: str = "127.0.0.1",
    data_dir: Path | None = None,
) -> LocalStack:
    """Start the server, bootstrap the admin, deploy the template, restore what
    ``data_dir`` kept (if given); returns when ready.

    ``host`` is the address the server listens on (``0.0.0.0`` in a container
    that other containers call); this process always reaches it on loopback.
    """
    try:
        import moto  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "the local stack needs moto's server", hint="pip install 'fpw[local]'"
        ) from exc
    private_dir(state_dir)
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    token = secrets.token_urlsafe(32)
    token_file = write_private(state_dir / TOKEN_FILE, token)
    output: Any = subprocess.DEVNULL
    if log_file is not None:
        private_dir(log_file.parent)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        output = os.fdopen(fd, "ab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    argv = [sys.executable, "-m", "infra.local.motoserver", "--host", host, "--port", str(port)]
    process = spawn([*argv, "--token-file", str(token_file)], env, output)
    if log_file is not None:
        output.close()  # the child has its own copy
    stack = LocalStack(endpoint, REGION, {}, ("", ""), process, token=token, data_dir=data_dir)
    try:
        _wait_ready(endpoint, token, process, log_file)
        stack.admin_key = _bootstrap_admin(stack)
        stack.outputs = _deploy(endpoint, stack.admin_key, prefix)
        try:
            stack.restore()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FpwError(
                f"the local stack's kept data in {data_dir} cannot be restored: {exc}",
                hint="move that folder away to start with an empty stack",
            ) from exc
    except BaseException:
        stack.stop()
        raise
    write_private(state_dir / "stack.json", json.dumps(stack.to_json(), indent=2))
    log.info("local stack ready at %s", endpoint)
    return stack


def start_home_stack(home: Path, port: int, host: str = "127.0.0.1") -> LocalStack:
    """The stack of ``fpw up`` and ``fpw stack``: its state, log and kept data under ``home``."""
    return start_local_stack(
        home / "stack",
        port=port,
        log_file=home / "logs" / "stack.log",
        host=host,
        data_dir=home / "stack" / "data",
    )


def deploy_copy(stack: LocalStack, prefix: str) -> LocalStack:
    """Another deployment of the template (``Fleet=none``) on ``stack``'s server.

    Its tables, buckets and roles are named by ``prefix``, so parts given its
    settings see nothing of the first deployment's data (a watcher sweeps all
    it can see). The copy shares the server: stopping it stops nothing; remove
    it with ``remove_copy``.
    """
    outputs = _deploy(stack.endpoint, stack.admin_key, prefix, {"Fleet": "none"})
    return LocalStack(stack.endpoint, stack.region, outputs, stack.admin_key)


def remove_copy(copy: LocalStack) -> None:
    """Delete a copy: its stack, its buckets and their objects, and the tables
    the template retains on deletion (``DeletionPolicy: Retain``)."""
    s3 = _client("s3", copy.endpoint, copy.admin_key)
    buckets = (copy.outputs["Bucket"], copy.outputs["ReleaseBucket"])
    for bucket in buckets:
        while found := s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            listed = [{"Key": o["Key"]} for o in found]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": listed})
    cfn = _client("cloudformation", copy.endpoint, copy.admin_key)
    name = f"{copy.outputs['Deployment']}-local"
    stack_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=name)
    deadline = time.monotonic() + 120
    while (status := cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]) != (
        "DELETE_COMPLETE"
    ):
        if status.endswith("FAILED") or time.monotonic() > deadline:
            raise FpwError(f"the deployment {name} was not removed ({status})")
        time.sleep(0.2)
    dynamodb = _client("dynamodb", copy.endpoint, copy.admin_key)
    for table in (copy.outputs["JobsTable"], copy.outputs["ClientsTable"]):
        dynamodb.delete_table(TableName=table)
    # moto's stack deletion leaves the data bucket and the managed policy behind.
    iam = _client("iam", copy.endpoint, copy.admin_key)
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_policy(PolicyArn=copy.outputs["ClientSitePolicyArn"])
    left = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for bucket in buckets:
        if bucket in left:
            s3.delete_bucket(Bucket=bucket)
