"""``fpw infra deploy`` and ``fpw infra destroy``: the template to AWS, or to
the local stack when ``aws.endpoint_url`` is set.

Deploy creates the stack or updates it in place, shows each resource event as
it happens and, on failure, the reasons of the resources that failed. Destroy
refuses while the data bucket still holds objects (jobs in flight, results
not yet collected) unless forced, and then empties the bucket first; it
removes the sites (IAM refuses to delete a policy still attached to a user)
and scales the fleet to zero (no task holds an instance while the stack goes);
the tables and the key are kept by their deletion policy (the record of every
job and the key that decrypts backups outlive the stack). A later deploy under
the same prefix is refused, by name, until the kept tables are deleted.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from shared.aws import Aws, error_code, error_message
from shared.config import AwsSettings
from shared.errors import ConfigError, FpwError

# The one template, deployed to AWS and into the local stack alike.
TEMPLATE = Path(__file__).with_name("template.yaml")

log = logging.getLogger(__name__)

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
INLINE_LIMIT = 51_200
"""Largest template body CloudFormation accepts inline (TemplateBody), in bytes."""
BLOCK_SCALAR = re.compile(r"[|>][-+]?\s*$")
DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE")
Printer = Callable[[str], None]


@dataclass
class StackResult:
    name: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    """Output key to value; empty after a delete."""


def parse_parameters(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a dict; a malformed one is refused by name."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"parameter {pair!r} is not KEY=VALUE")
        found[key] = value
    return found


def compact(text: str) -> str:
    """The template without its comment and blank lines (block scalars kept whole):
    the same document, under CloudFormation's inline limit. The comments stay in
    the file for its readers."""
    kept: list[str] = []
    block_indent: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                kept.append(line)
                continue
            block_indent = None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kept.append(line)
        if BLOCK_SCALAR.search(line):
            block_indent = indent
    return "\n".join(kept) + "\n"


def template_body(template: Path) -> str:
    """What ``deploy`` sends: the compacted template, refused by size before AWS would."""
    body = compact(template.read_text(encoding="utf-8"))
    size = len(body.encode("utf-8"))
    if size > INLINE_LIMIT:
        raise ConfigError(
            f"{template} is {size} bytes without comments, over CloudFormation's inline "
            f"limit of {INLINE_LIMIT}",
            hint="shorten the template's descriptions",
        )
    return body


def failure_reasons(events: Sequence[Mapping[str, Any]], since: float) -> list[str]:
    """The failed resources' reasons among events newer than ``since`` (oldest first)."""
    reasons = []
    for event in reversed(events):
        stamp = event.get("Timestamp")
        if stamp is not None and hasattr(stamp, "timestamp") and stamp.timestamp() < since:
            continue
        if str(event.get("ResourceStatus", "")).endswith("FAILED"):
            reason = event.get("ResourceStatusReason") or "no reason given"
            reasons.append(f"{event.get('LogicalResourceId')}: {reason}")
    return reasons


@dataclass(eq=False)
class Deployer:
    """CloudFormation calls with the administrator's credentials."""

    settings: AwsSettings
    stack_name: str
    _: KW_ONLY
    printer: Printer = print
    poll_seconds: float = 2.0
    timeout_seconds: float = 3600.0

    def __post_init__(self) -> None:
        self.aws = Aws(self.settings, "fpw-deploy")
        self.cfn: Any = self.aws.client("cloudformation")

    def describe(self) -> dict[str, Any] | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=self.stack_name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in error_message(exc):
                return None
            raise
        return dict(stacks[0]) if stacks else None

    def outputs(self) -> dict[str, str]:
        stack = self.describe()
        if stack is None:
            raise FpwError(f"stack {self.stack_name} does not exist")
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def template_defaults(self, template: Path = TEMPLATE) -> dict[str, str]:
        summary = self.cfn.get_template_summary(TemplateBody=template_body(template))
        return {
            p["ParameterKey"]: str(p["DefaultValue"])
            for p in summary.get("Parameters", [])
            if p.get("DefaultValue") is not None
        }

    def effective_parameters(
        self, given: Mapping[str, str], template: Path = TEMPLATE
    ) -> dict[str, str]:
        """What a deploy with ``given`` will run with: the template's defaults, under
        the deployed stack's values (an update keeps them), under ``given``."""
        found = self.template_defaults(template)
        for old in (self.describe() or {}).get("Parameters", []):
            found[old["ParameterKey"]] = str(old.get("ParameterValue", ""))
        found.update(given)
        return found

    def deploy(self, parameters: Mapping[str, str], template: Path = TEMPLATE) -> StackResult:
        params: list[dict[str, Any]] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
        ]
        # What a create and an update send alike; params is filled in before either call.
        request = {
            "StackName": self.stack_name,
            "TemplateBody": template_body(template),
            "Parameters": params,
            "Capabilities": CAPABILITIES,
        }
        existing = self.describe()
        started = time.time() - 1
        if existing is not None and existing["StackStatus"] == "ROLLBACK_COMPLETE":
            raise FpwError(
                f"stack {self.stack_name} failed to create and was rolled back",
                hint="run `fpw infra destroy` and deploy again",
            )
        if existing is None:
            self.refuse_kept_tables(parameters.get("Prefix", "fpw"))
            self.printer(f"creating stack {self.stack_name}")
            self.cfn.create_stack(**request, OnFailure="ROLLBACK")
        else:
            self.printer(f"updating stack {self.stack_name}")
            # Parameters not given keep their deployed values, not the defaults.
            for old in existing.get("Parameters", []):
                if old["ParameterKey"] not in parameters:
                    params.append({"ParameterKey": old["ParameterKey"], "UsePreviousValue": True})
            try:
                self.cfn.update_stack(**request)
            except ClientError as exc:
                if "No updates are to be performed" in error_message(exc):
                    self.printer("no changes")
                    return StackResult(self.stack_name, existing["StackStatus"], self.outputs())
                raise
        status = self.wait(started)
        if status not in DONE:
            raise FpwError(self._failed(status, started))
        return StackResult(self.stack_name, status, self.outputs())

    def refuse_kept_tables(self, prefix: str) -> None:
        """A create would fail on the tables an earlier stack of this prefix kept: say so first."""
        kept = []
        for table in (f"{prefix}-jobs", f"{prefix}-clients"):
            try:
                self.aws.dynamodb.describe_table(TableName=table)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    continue
                raise
            kept.append(table)
        if kept:
            deletes = "; ".join(f"aws dynamodb delete-table --table-name {t}" for t in kept)
            raise FpwError(
                f"tables {', '.join(kept)} were kept from an earlier deployment of prefix {prefix}",
                hint=f"deploy with another --prefix, or (after any backup you need) {deletes}",
            )

    def wait(self, since: float) -> str:
        """Poll until the stack settles, printing each new event; the final status."""
        seen: set[str] = set()
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            stack = self.describe()
            status = "DELETE_COMPLETE" if stack is None else str(stack["StackStatus"])
            for event in reversed(self._events(since)):
                if event["EventId"] in seen:
                    continue
                seen.add(event["EventId"])
                reason = event.get("ResourceStatusReason")
                line = f"  {event['ResourceStatus']:<20} {event['LogicalResourceId']}"
                self.printer(f"{line} ({reason})" if reason else line)
            if status.endswith(("_COMPLETE", "_FAILED")):
                return status
            if time.monotonic() > deadline:
                raise FpwError(f"stack {self.stack_name} still {status} after the time limit")
            time.sleep(self.poll_seconds)

    def _events(self, since: float) -> list[dict[str, Any]]:
        """The stack's events newer than ``since``, newest first."""
        try:
            events = self.cfn.describe_stack_events(StackName=self.stack_name)["StackEvents"]
        except ClientError:
            return []
        return [
            e
            for e in events
            if not hasattr(e.get("Timestamp"), "timestamp") or e["Timestamp"].timestamp() >= since
        ]

    def _failed(self, status: str, since: float) -> str:
        reasons = failure_reasons(self._events(since), since)
        detail = "; ".join(reasons) if reasons else "no resource reported a reason"
        return f"stack {self.stack_name} ended {status}: {detail}"

    def bucket_objects(self, bucket: str, limit: int = 1000) -> int:
        """Objects in the bucket, counted up to ``limit``; 0 if the bucket is gone."""
        try:
            answer = self.aws.s3.list_objects_v2(Bucket=bucket, MaxKeys=limit)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchBucket", "404"):
                return 0
            raise
        return int(answer.get("KeyCount", 0))

    def empty_bucket(self, bucket: str) -> int:
        removed = 0
        for page in self.aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys: list[Any] = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.aws.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                removed += len(keys)
        return removed

    def destroy(self, *, force: bool = False) -> StackResult:
        outputs = self.outputs()
        # Buckets must be empty before CloudFormation can delete them.
        holds = {
            "Bucket": "chunks of unfinished jobs or results not yet collected",
            "ReleaseBucket": "published desktop releases",
        }
        for output, what in holds.items():
            bucket = outputs.get(output)
            count = self.bucket_objects(bucket) if bucket else 0
            if count and not force:
                more = "+" if count >= 1000 else ""
                raise FpwError(
                    f"bucket {bucket} still holds {count}{more} objects ({what})",
                    hint="keep what you need, then run `fpw infra destroy --force` to delete them",
                )
            if bucket and count:
                self.printer(f"deleting {self.empty_bucket(bucket)} objects from {bucket}")
        if outputs.get("ClientSitePolicyArn"):
            from infra.admin import remove_all_sites

            for user in remove_all_sites(self.settings, outputs["ClientSitePolicyArn"]):
                self.printer(f"removed site user {user} (its desktops lose access)")
        self.scale_to_zero(outputs)
        started = time.time() - 1
        self.printer(f"deleting stack {self.stack_name}")
        self.cfn.delete_stack(StackName=self.stack_name)
        status = self.wait(started)
        if status != "DELETE_COMPLETE":
            raise FpwError(self._failed(status, started))
        for output in ("JobsTable", "ClientsTable"):
            if output in outputs:
                self.printer(
                    f"kept table {outputs[output]} (delete: aws dynamodb delete-table "
                    f"--table-name {outputs[output]})"
                )
        if "DataKeyArn" in outputs:
            self.printer(
                f"kept key {outputs['DataKeyArn']} (delete, after the tables and their backups: "
                f"aws kms schedule-key-deletion --pending-window-in-days 30 --key-id "
                f"{outputs['DataKeyArn']})"
            )
        return StackResult(self.stack_name, status)

    def scale_to_zero(self, outputs: Mapping[str, str]) -> None:
        """Stop the fleet's tasks before the stack goes: the scaling may not start new ones,
        and the capacity provider's protected instances are freed as their tasks end."""
        cluster, service = outputs.get("ClusterName"), outputs.get("FleetServiceName")
        if not cluster or not service:
            return
        self.aws.client("application-autoscaling").register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=f"service/{cluster}/{service}",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=0,
            MaxCapacity=0,
        )
        ecs = self.aws.client("ecs")
        ecs.update_service(cluster=cluster, service=service, desiredCount=0)
        self.printer(f"scaling {service} to zero tasks")
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            found = ecs.describe_services(cluster=cluster, services=[service])["services"]
            running = sum(int(s.get("runningCount", 0)) for s in found)
            if running == 0:
                return
            if time.monotonic() > deadline:
                raise FpwError(f"{service} still runs {running} task(s) after the time limit")
            time.sleep(self.poll_seconds)
