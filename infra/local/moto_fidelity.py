"""Patches that bring moto's IAM enforcement closer to AWS, applied inside
the local stack's server process only.

Each patch makes moto deny or allow as AWS would for the policies in our
template; none makes it more permissive than AWS:

1. DynamoDB and DynamoDB Streams requests are authorized against resource
   ``"*"`` in moto, so a policy scoped to a table ARN (least privilege) never
   matches and everything is denied. We name the resource as AWS does: the
   table, the table's index, or the stream (a batch on one table: the table).
2. A trust policy naming the account root (``arn:aws:iam::<account>:root``)
   delegates to the account's own IAM policies in AWS; moto compares the
   caller's ARN to the root ARN literally and refuses. A service principal
   (``ecs-tasks.amazonaws.com``) beside it makes moto raise a TypeError.
3. Inline role policies created through CloudFormation are kept as parsed
   documents, which moto's policy evaluation cannot read (a server error on
   every call made with the role); we hand it the JSON text it expects.
4. moto names the IAM action after the request's signing name, which for
   CloudWatch is ``monitoring``; IAM policies say ``cloudwatch:``.
5. SNS requests, like DynamoDB's, are authorized against resource ``"*"``;
   AWS checks the topic's ARN.
6. moto evaluates no condition of an identity policy. The one key our
   policies rest on for separation is evaluated as AWS does:
   ``dynamodb:LeadingKeys`` (the partition key values a request touches),
   with ``StringEquals``/``StringLike``, the ``ForAllValues:`` and
   ``ForAnyValue:`` set operators, and the ``${aws:userid}`` policy variable
   (an IAM user's unique id; ``<role id>:<session>`` for an assumed role).
   Other condition keys stay unevaluated (allowed), as before.

Beyond IAM, one patch of behaviour: moto evaluates a conditional write and
applies it without a lock, so two concurrent claims of one job can both
succeed; DynamoDB makes each write atomic. Every item write is serialised.
moto also applies an update's actions one by one and stops at the first that
takes the item over its size limit, leaving the earlier ones applied (a job
marked ERROR without its reason); DynamoDB applies all or none. An update
refused for size leaves the item as it was.

moto's CloudFormation keeps only resources whose ``DeletionPolicy`` is
``Retain``; AWS also keeps ``RetainExceptOnCreate`` ones when a stack that was
created is deleted. The stack's delete keeps both. And moto's CloudFormation
never deletes a managed policy, so a stack created again under the same names
fails; AWS deletes it, or fails the delete while a user still holds it
(DeleteConflict). The stack's delete does as AWS does. A resource that fails
to create made moto's CreateStack itself fail, keeping what it had created;
AWS fails the stack (the resource's CREATE_FAILED event says why) and rolls
it back to ROLLBACK_COMPLETE, deleting ``RetainExceptOnCreate`` resources
too. The create does as AWS does.

And one of speed, not behaviour: moto sorts the whole table before every
query and scan, and the matches again, comparing attribute values through
methods that convert both values at each comparison; with a few thousand
jobs a query of the queue index took tens of milliseconds, growing with the
table. The same orders are computed from each item's value converted once.

Also beyond IAM, ``moto_resources`` teaches moto's CloudFormation the resource
types of our template that it lacks (alarms, scaling, capacity providers).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any


def _params(handler: Any) -> dict[str, Any]:
    params = getattr(handler, "params", None)
    if isinstance(params, dict) and params:
        return params
    body = getattr(handler, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes | str) and body:
        try:
            loaded = json.loads(body)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _dynamodb_resource(self: Any) -> str:
    params = _params(self)
    table = params.get("TableName")
    if not table:
        # A batch call on one table is authorized against that table, as in AWS.
        tables = list(params.get("RequestItems") or {})
        if len(tables) != 1:
            return "*"  # ListTables, batches over tables: AWS checks each, moto cannot
        table = tables[0]
    arn = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
    index = params.get("IndexName")
    return f"{arn}/index/{index}" if index else arn


def _streams_resource(self: Any) -> str:
    params = _params(self)
    if params.get("StreamArn"):
        return str(params["StreamArn"])
    iterator = params.get("ShardIterator")
    # moto's iterator ids are "<stream arn>|1|<random>".
    return str(iterator).split("|", 1)[0] if iterator else "*"


def _sns_resource(self: Any) -> str:
    arn = self._get_param("TopicArn") or self._get_param("TargetArn")
    return str(arn) if arn else "*"


_request_context = threading.local()
"""The condition values of the request being authorized (moto checks it in one thread)."""


def _leading_keys(account: str, region: str, body: bytes) -> list[str] | None:
    """The partition key values a DynamoDB request names, or None when it names none."""
    from moto.dynamodb.models import dynamodb_backends

    try:
        params = json.loads(body or b"{}")
        table = dynamodb_backends[account][region].get_table(params["TableName"])
    except Exception:
        return None
    name = table.hash_key_attr
    found: list[str] = []
    for item in [params.get("Key"), params.get("Item")]:
        if isinstance(item, dict) and isinstance(item.get(name), dict):
            found.extend(str(v) for v in item[name].values())
    expression = params.get("KeyConditionExpression")
    if isinstance(expression, str):
        names = params.get("ExpressionAttributeNames") or {}
        aliases = [re.escape(a) for a, n in names.items() if n == name] + [re.escape(name)]
        values = params.get("ExpressionAttributeValues") or {}
        for alias in aliases:
            for match in re.finditer(rf"(?<![\w#]){alias}\s*=\s*(:\w+)", expression):
                value = values.get(match.group(1))
                if isinstance(value, dict):
                    found.extend(str(v) for v in value.values())
    return found or None


def _user_id(access_key: Any) -> str | None:
    """``aws:userid`` of the caller, as AWS sets it."""
    try:
        if hasattr(access_key, "_owner_user_name"):
            return str(access_key.backend.get_user(access_key._owner_user_name).id)
        role = access_key.backend.get_role(access_key._owner_role_name)
        return f"{role.id}:{access_key._session_name}"
    except Exception:
        return None


def _string_matches(operator: str, expected: str, actual: str) -> bool:
    if operator == "StringEquals":
        return expected == actual
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in expected)
    return re.fullmatch(pattern, actual) is not None


def _leading_keys_allowed(conditions: dict[str, Any]) -> bool | None:
    """Whether the ``dynamodb:LeadingKeys`` conditions hold; None when there are none."""
    held: bool | None = None
    for full_operator, pairs in conditions.items():
        if not isinstance(pairs, dict) or "dynamodb:LeadingKeys" not in pairs:
            continue
        qualifier, _, operator = full_operator.rpartition(":")
        if operator not in ("StringEquals", "StringLike"):
            continue
        wanted = pairs["dynamodb:LeadingKeys"]
        user = getattr(_request_context, "userid", None)
        expected = [
            str(w).replace("${aws:userid}", user) if user else str(w)
            for w in ([wanted] if isinstance(wanted, str) else wanted)
            if user or "${" not in str(w)
        ]
        actual = getattr(_request_context, "leading_keys", None) or []
        # Whether each value the request names matches an expected one.
        matches = [any(_string_matches(operator, e, v) for e in expected) for v in actual]
        if qualifier == "ForAllValues":
            ok = all(matches)
        elif qualifier == "ForAnyValue":
            ok = any(matches)
        else:
            ok = matches == [True]
        held = ok if held is None else held and ok
    return held


def _check_principal(self: Any, principal: str) -> bool:
    expected = self._statement.get("Principal")
    if not expected or expected == "*":
        return True
    aws = expected.get("AWS") if isinstance(expected, dict) else None
    if aws is None:
        return False  # a Service or Federated principal: not an IAM caller
    names = [aws] if isinstance(aws, str) else list(aws)
    account = principal.split(":")[4] if principal.count(":") >= 5 else ""
    return any(n in ("*", principal, f"arn:aws:iam::{account}:root", account) for n in names)


# Signing names that differ from the IAM service prefix of their actions.
_ACTION_PREFIXES = {"monitoring": "cloudwatch"}


def apply() -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.iam.access_control import (
        IAMPolicy,
        IAMPolicyStatement,
        IAMRequestBase,
        PermissionResult,
    )
    from moto.sns.responses import SNSResponse

    from infra.local import moto_resources

    moto_resources.register()
    _retain_except_on_create()
    _failed_create_rolls_back()
    _atomic_writes()
    _fast_ordering()

    original_request_init = IAMRequestBase.__init__

    def request_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_request_init(self, *args, **kwargs)
        service, _, name = self._action.partition(":")
        if service in _ACTION_PREFIXES:
            self._action = f"{_ACTION_PREFIXES[service]}:{name}"

    IAMRequestBase.__init__ = request_init  # type: ignore[method-assign]

    original_init = IAMPolicy.__init__

    def policy_init(self: Any, policy: Any) -> None:
        if isinstance(policy, dict) and "Statement" in policy:
            policy = json.dumps(policy)
        original_init(self, policy)

    IAMPolicy.__init__ = policy_init  # type: ignore[method-assign]

    original_check = IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._action.startswith("dynamodb:"):
            _request_context.leading_keys = _leading_keys(self.account_id, self._region, self._body)
        else:
            _request_context.leading_keys = None
        _request_context.userid = _user_id(self._access_key)
        try:
            original_check(self, resource)
        finally:
            _request_context.leading_keys = None
            _request_context.userid = None

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]

    original_statement = IAMPolicyStatement.is_action_permitted

    def statement_permits(self: Any, *args: Any, **kwargs: Any) -> Any:
        # A statement whose condition does not hold does not apply (it neither
        # allows nor denies), as in AWS.
        conditions = self._statement.get("Condition")
        if isinstance(conditions, dict) and _leading_keys_allowed(conditions) is False:
            return PermissionResult.NEUTRAL
        return original_statement(self, *args, **kwargs)

    IAMPolicyStatement.is_action_permitted = statement_permits  # type: ignore[method-assign]

    DynamoHandler._determine_resource = _dynamodb_resource  # type: ignore[attr-defined]
    DynamoDBStreamsHandler._determine_resource = _streams_resource  # type: ignore[attr-defined]
    SNSResponse._determine_resource = _sns_resource  # type: ignore[attr-defined]
    IAMPolicyStatement._check_principal = _check_principal  # type: ignore[method-assign]


def _retain_except_on_create() -> None:
    """Deleting a created stack keeps ``RetainExceptOnCreate`` resources, as in AWS."""
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.delete

    def delete(self: Any) -> None:
        for resource in self._resource_json_map.values():
            if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
                resource["DeletionPolicy"] = "Retain"
        original(self)

    ResourceMap.delete = delete  # type: ignore[method-assign]

    from moto.iam.exceptions import DeleteConflictException
    from moto.iam.models import ManagedPolicy, iam_backends
    from moto.utilities.utils import get_partition

    def delete_policy(self: Any, account_id: str, region_name: str) -> None:
        if self.attachment_count:
            raise DeleteConflictException("Cannot delete a policy attached to entities.")
        iam_backends[account_id][get_partition(region_name)].delete_policy(self.arn)

    ManagedPolicy.delete = delete_policy  # type: ignore[attr-defined]


class _NoOutputs(dict[str, Any]):
    """A rolled-back stack's outputs: none (moto's would create what they name)."""

    exports: list[Any] = []


def _failed_create_rolls_back() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.models import Event, Stack

    original = Stack.create_resources
    parse = parsing.parse_and_create_resource

    def parse_and_create_resource(logical_id: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return parse(logical_id, *args, **kwargs)
        except Exception as exc:
            # The innermost resource is the one that failed (a Ref creates what it names).
            if not hasattr(exc, "fpw_logical_id"):
                exc.fpw_logical_id = logical_id  # type: ignore[attr-defined]
            raise

    parsing.parse_and_create_resource = parse_and_create_resource

    def create_resources(self: Any) -> None:
        try:
            original(self)
        except Exception as exc:  # noqa: BLE001 - any resource's failure fails the stack
            resources = self.resource_map
            failed = getattr(exc, "fpw_logical_id", self.name)
            kind = resources._resource_json_map.get(failed, {}).get("Type", "")
            reason = str(getattr(exc, "message", "") or exc)
            event = Event(self.stack_id, self.name, failed, "", kind, "CREATE_FAILED", reason, None)
            self.events.append(event)
            self._add_stack_event(
                "ROLLBACK_IN_PROGRESS",
                resource_status_reason=f"The following resource(s) failed to create: [{failed}].",
            )
            for resource in resources._resource_json_map.values():
                if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
                    resource["DeletionPolicy"] = "Delete"
            resources.delete()
            self.output_map = _NoOutputs()
            self._add_stack_event("ROLLBACK_COMPLETE")
            self.status = "ROLLBACK_COMPLETE"

    Stack.create_resources = create_resources  # type: ignore[method-assign]


def _atomic_writes() -> None:
    """Condition check and write as one step, as DynamoDB does (claims depend on it)."""
    import functools

    from moto.dynamodb.models import DynamoDBBackend

    _whole_updates()  # inside the lock below: the snapshot is of the item as updated
    lock = threading.RLock()
    for name in (
        "put_item",
        "update_item",
        "delete_item",
        "transact_write_items",
        "batch_write_item",
    ):
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def _whole_updates() -> None:
    """An update refused for the item's size changes nothing, as in DynamoDB."""
    import copy
    import functools

    from moto.dynamodb.exceptions import ItemSizeToUpdateTooLarge
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_item

    @functools.wraps(original)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kw: Any) -> Any:
        try:
            table = self.get_table(table_name)
            item = table.get_item(*self.get_keys_value(table, key))
        except Exception:  # noqa: BLE001 - moto reports it again below, as AWS would
            item = None
        before = copy.deepcopy(dict(item.attrs)) if item is not None else None
        try:
            return original(self, table_name, key, *args, **kw)
        except ItemSizeToUpdateTooLarge:
            if before is not None:
                dict.clear(item.attrs)
                dict.update(item.attrs, before)
            raise

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]


def _fast_ordering() -> None:
    """moto's item orders, with each sort key's value converted once per item."""
    from moto.dynamodb.models.table import Table

    def all_items(self: Any) -> list[Any]:
        # With a range key, each hash key holds a map of items; else one item.
        items = [
            i for s in self.items.values() for i in (s.values() if self.range_key_attr else [s])
        ]
        return sorted(
            items,
            key=lambda x: (
                (x.hash_key.cast_value, x.range_key.cast_value)
                if x.range_key
                else (x.hash_key.cast_value,)
            ),
        )

    def sorted_items(
        self: Any, hash_key_attrs: list[str], range_key_attrs: list[str | None], items: list[Any]
    ) -> list[Any]:
        attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        items.sort(key=lambda x: tuple(x.attrs[key].cast_value for key in attrs))
        return items

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.sorted_items = sorted_items  # type: ignore[method-assign]
