"""The local stack: the project's template deployed into moto's server on
loopback, with IAM enforcement on.

Start-up: run the server (``infra.motoserver``) as a child process, create an
admin user while moto still accepts anonymous calls, switch enforcement on,
then deploy ``infra/template.yaml`` through CloudFormation with the admin's
keys. From then on every call is signed and authorized: each part assumes its
own role from the template, so the roles under test are the production ones.
State lives in the server's memory and is gone when it stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.config import AwsSettings
from shared.errors import ConfigError, FpwError

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).with_name("template.yaml")
REGION = "us-east-1"
ADMIN_USER = "fpw-admin"
ROLE_OUTPUTS = {"client": "ClientRoleArn", "fetcher": "FetcherRoleArn", "watcher": "WatcherRoleArn"}
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStack:
    endpoint: str
    region: str
    outputs: dict[str, str]
    admin_key: tuple[str, str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def _named(self, aws: AwsSettings) -> AwsSettings:
        aws.table = self.outputs["JobsTable"]
        aws.clients_table = self.outputs["ClientsTable"]
        aws.bucket = self.outputs["Bucket"]
        return aws

    def admin_settings(self) -> AwsSettings:
        return self._named(
            AwsSettings(
                region=self.region,
                endpoint_url=self.endpoint,
                access_key_id=self.admin_key[0],
                secret_access_key=self.admin_key[1],
            )
        )

    def role_settings(self, role: str) -> AwsSettings:
        if role not in ROLE_OUTPUTS:
            raise ConfigError(f"unknown role {role!r}; expected one of {sorted(ROLE_OUTPUTS)}")
        aws = self.admin_settings()
        aws.role_arn = self.outputs[ROLE_OUTPUTS[role]]
        return aws

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

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


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], log_file: Path | None) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            where = f"; see {log_file}" if log_file else ""
            raise FpwError(f"the local stack's server exited at start-up{where}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{endpoint}/moto-api/", timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise FpwError("the local stack's server did not start within 60 s")


def _bootstrap_admin(endpoint: str) -> tuple[str, str]:
    """Create the admin user while moto still accepts anonymous calls, then enforce IAM."""
    import requests

    iam = _client("iam", endpoint)
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(
        UserName=ADMIN_USER, PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY)
    )
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    return key["AccessKeyId"], key["SecretAccessKey"]


def _deploy(
    endpoint: str, admin: tuple[str, str], prefix: str, parameters: dict[str, str] | None = None
) -> dict[str, str]:
    cfn = _client("cloudformation", endpoint, admin)
    name = f"{prefix}-local"
    values = {"Prefix": prefix, **(parameters or {})}
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
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
) -> LocalStack:
    """Start the server, bootstrap the admin, deploy the template; returns when ready.

    ``host`` is the address the server listens on (``0.0.0.0`` in a container
    that other containers call); this process always reaches it on loopback.
    """
    try:
        import moto  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "the local stack needs moto's server", hint="pip install 'fpw[local]'"
        ) from exc
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    output: Any = subprocess.DEVNULL
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        output = log_file.open("ab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.motoserver", "--host", host, "--port", str(port)],
        stdout=output,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    stack = LocalStack(endpoint, REGION, {}, ("", ""), process)
    try:
        _wait_ready(endpoint, process, log_file)
        stack.admin_key = _bootstrap_admin(endpoint)
        stack.outputs = _deploy(endpoint, stack.admin_key, prefix)
    except BaseException:
        stack.stop()
        raise
    (state_dir / "stack.json").write_text(json.dumps(stack.to_json(), indent=2), encoding="utf-8")
    log.info("local stack ready at %s", endpoint)
    return stack


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
