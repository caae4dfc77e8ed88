"""IAM's evaluation of an identity-based policy, as far as the template's roles use it: the local server runs each
function under its role with it.

A statement applies to a request when its Action and its Resource match (IAM's wildcards: `*` any run of
characters, `?` one; actions ignore case) and every condition holds. Conditions are the string operators
(StringEquals, StringNotEquals, StringLike, StringNotLike), each maybe qualified by ForAllValues: or ForAnyValue:,
evaluated as IAM does: operators and keys AND, a key's values OR (NOR for a negated operator), a key missing from
the request fails a plain operator and passes a negated one, ForAllValues passes on a missing key. An explicit
Deny wins over any Allow; a request no Allow covers is refused. Whatever else a statement holds (NotAction,
NotResource, a Principal, another operator, a policy variable) is refused when the policy is read, never ignored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Effect = Literal["Allow", "Deny"]

_OPERATORS = ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike")
_QUALIFIERS = ("ForAllValues", "ForAnyValue")
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource", "Condition"}


class PolicyError(ValueError):
    """A policy this evaluator cannot read faithfully; the message says what."""


@functools.lru_cache(maxsize=1024)
def wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's wildcard `pattern` as a regular expression, to be matched whole (`fullmatch`)."""
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(expression, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


@dataclass(frozen=True)
class Request:
    """One action on one resource, with the request's condition keys (lower case) and their values."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Condition:
    operator: str  # one of _OPERATORS
    qualifier: str | None  # ForAllValues, ForAnyValue, or None
    key: str  # lower case: condition keys ignore case
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, tuple[str, ...]]) -> bool:
        negated = "Not" in self.operator
        like = self.operator.endswith("Like")

        def satisfied(value: str) -> bool:
            matched = any(wildcard(pattern).fullmatch(value) if like else pattern == value for pattern in self.values)
            return matched != negated

        present = context.get(self.key)
        if self.qualifier == "ForAllValues":
            return all(satisfied(value) for value in present or ())
        if self.qualifier == "ForAnyValue":
            return any(satisfied(value) for value in present or ())
        if present is None:
            return negated
        return all(satisfied(value) for value in present) if negated else any(satisfied(value) for value in present)


@dataclass(frozen=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()

    def applies(self, request: Request) -> bool:
        return (
            any(wildcard(action, ignore_case=True).fullmatch(request.action) for action in self.actions)
            and any(wildcard(resource).fullmatch(request.resource) for resource in self.resources)
            and all(condition.holds(request.context) for condition in self.conditions)
        )


@dataclass(frozen=True)
class Decision:
    effect: Effect | None  # None: no statement covers the request (an implicit deny)
    statement: Statement | None = None  # the Deny that refused, or the first Allow that allowed

    @property
    def allowed(self) -> bool:
        return self.effect == "Allow"


@dataclass(frozen=True)
class Policy:
    """The statements of one or more policy documents, evaluated together (as a role's policies are)."""

    statements: tuple[Statement, ...]

    @classmethod
    def read(cls, documents: Iterable[Any]) -> Policy:
        """The statements of `documents` (each a policy document); `PolicyError` for anything not understood."""
        statements: list[Statement] = []
        for document in documents:
            if not isinstance(document, dict):
                raise PolicyError("a policy document is not an object")
            items = document.get("Statement")
            items = [items] if isinstance(items, dict) else items
            if not isinstance(items, list):
                raise PolicyError("a policy document has no Statement")
            statements += [_statement(item) for item in items]
        return cls(tuple(statements))

    def decide(self, request: Request) -> Decision:
        allowing: Statement | None = None
        for statement in self.statements:
            if statement.applies(request):
                if statement.effect == "Deny":
                    return Decision("Deny", statement)
                allowing = allowing or statement
        return Decision("Allow", allowing) if allowing is not None else Decision(None)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        raise PolicyError(f"{what} is not a string or a list of strings: {value!r}")
    if any("${" in item for item in items):
        raise PolicyError(f"{what} holds a policy variable, which this evaluator does not read: {value!r}")
    return tuple(items)


def _statement(item: Any) -> Statement:
    if not isinstance(item, dict):
        raise PolicyError("a statement is not an object")
    unknown = sorted(set(item) - _STATEMENT_KEYS)
    if unknown:
        raise PolicyError(f"a statement holds {', '.join(unknown)}, which this evaluator does not read")
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"a statement's Effect is {effect!r}, not Allow or Deny")
    conditions = item.get("Condition") or {}
    if not isinstance(conditions, dict):
        raise PolicyError("a statement's Condition is not an object")
    return Statement(
        effect,
        _strings(item.get("Action"), "a statement's Action"),
        _strings(item.get("Resource"), "a statement's Resource"),
        tuple(condition for name, keys in conditions.items() for condition in _conditions(name, keys)),
    )


def _conditions(name: str, keys: Any) -> list[Condition]:
    """An operator's block, one Condition per key (they AND, as the block's keys do)."""
    qualifier, _, operator = name.rpartition(":")
    if operator not in _OPERATORS or (qualifier and qualifier not in _QUALIFIERS):
        raise PolicyError(f"the condition operator {name} is not one this evaluator knows")
    if not isinstance(keys, dict) or not keys:
        raise PolicyError(f"the condition {name} names no key")
    return [
        Condition(operator, qualifier or None, str(key).lower(), _strings(values, f"the condition {name}'s {key}"))
        for key, values in keys.items()
    ]


LEADING_KEYS = "dynamodb:leadingkeys"
# TransactWriteItems is authorized item by item, each as the single-item action it performs.
_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def dynamodb_requests(operation: str, body: Any, region: str, account: str, partition_key: str) -> list[Request]:
    """What IAM authorizes for one DynamoDB call (`operation`, e.g. GetItem, with its JSON `body`): one request per
    item it reads or writes, on the table's ARN, with the item's partition key as `dynamodb:LeadingKeys`; Scan and
    the table-level operations without it. A malformed body (DynamoDB's ValidationException) never raises here: an
    item without a partition key is one whose key is empty, which no key prefix matches, and a batch or transaction
    without items is one such item."""
    document = _object(body)

    def table(name: Any) -> str:
        text = name if isinstance(name, str) else ""
        return text if text.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{text}"

    def request(action: str, table_name: Any, key: Any) -> Request:
        value = _object(key).get(partition_key)
        scalar = next(iter(value.values()), "") if isinstance(value, dict) and value else ""
        return Request(action, table(table_name), {LEADING_KEYS: (str(scalar),)})

    action = f"dynamodb:{operation}"
    requests: list[Request] = []
    if operation in ("GetItem", "DeleteItem", "UpdateItem"):
        requests.append(request(action, document.get("TableName"), document.get("Key")))
    elif operation == "PutItem":
        requests.append(request(action, document.get("TableName"), document.get("Item")))
    elif operation == "Query":
        requests.append(request(action, document.get("TableName"), _queried_key(document, partition_key)))
    elif operation in ("TransactWriteItems", "TransactGetItems"):
        for entry in _list(document.get("TransactItems")):
            entry = _object(entry)
            kind, spec = next(iter(entry.items())) if len(entry) == 1 else ("", {})
            spec = _object(spec)
            key = spec.get("Item") if kind == "Put" else spec.get("Key")
            requests.append(request(_TRANSACT_ACTIONS.get(kind, action), spec.get("TableName"), key))
    elif operation == "BatchGetItem":
        for name, spec in _object(document.get("RequestItems")).items():
            requests += [request(action, name, key) for key in _list(_object(spec).get("Keys"))] or [
                request(action, name, None)
            ]
    elif operation == "BatchWriteItem":
        for name, writes in _object(document.get("RequestItems")).items():
            for write in _list(writes) or [None]:
                put, delete = _object(_object(write).get("PutRequest")), _object(_object(write).get("DeleteRequest"))
                requests.append(request(action, name, put.get("Item") if put else delete.get("Key")))
    else:
        name = document.get("TableName")
        return [Request(action, table(name) if name is not None else "*")]
    return requests or [request(action, document.get("TableName"), None)]


def _object(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _queried_key(document: dict[str, Any], partition_key: str) -> dict[str, Any]:
    """The partition key a Query's key condition names (`#name = :value` or `pk = :value`); {} if it names none."""
    names = _object(document.get("ExpressionAttributeNames"))
    values = _object(document.get("ExpressionAttributeValues"))
    expression = document.get("KeyConditionExpression")
    for name, value in re.findall(r"([#\w]+)\s*=\s*(:\w+)", expression if isinstance(expression, str) else ""):
        if names.get(name, name) == partition_key and value in values:
            return {partition_key: values[value]}
    listed = _list(_object(_object(document.get("KeyConditions")).get(partition_key)).get("AttributeValueList"))
    return {partition_key: listed[0]} if listed else {}
