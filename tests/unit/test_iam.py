"""The IAM evaluator the local server authorizes each function's calls with (cli/lambda_auth_cli/iam.py, roles.py):
IAM's rules on hand-written policies, DynamoDB's calls as IAM sees them (item by item, by partition key), and the
template's roles, translated and resolved as `lambda-auth serve` enforces them, against the calls each function's
code makes (read from the layer's store modules) and the calls its neighbours make."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

from lambda_auth.store import layout
from lambda_auth_cli import iam, template
from lambda_auth_cli.roles import Roles
from lambda_auth_cli.template import DEFAULT_REGION, LOCAL_ACCOUNT_ID, LOCAL_TABLE_NAME

TABLE = f"arn:aws:dynamodb:{DEFAULT_REGION}:{LOCAL_ACCOUNT_ID}:table/{LOCAL_TABLE_NAME}"
OTHER_TABLE = f"arn:aws:dynamodb:{DEFAULT_REGION}:{LOCAL_ACCOUNT_ID}:table/another"


def policy(*statements: dict[str, Any]) -> iam.Policy:
    return iam.Policy.read([{"Version": "2012-10-17", "Statement": list(statements)}])


def allow(action: Any, resource: Any = "*", **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def deny(action: Any, resource: Any = "*", **condition: Any) -> dict[str, Any]:
    return allow(action, resource, **condition) | {"Effect": "Deny"}


def keyed(action: str, key: str, resource: str = TABLE) -> iam.Request:
    return iam.Request(action, resource, {iam.LEADING_KEYS: (key,)})


def prefixes(*patterns: str) -> dict[str, Any]:
    """The condition the template puts on every table grant: the items' keys begin with one of `patterns`."""
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}}


# Allow and Deny


def test_a_request_no_statement_covers_is_refused_implicitly() -> None:
    decision = policy(allow("dynamodb:GetItem", TABLE)).decide(iam.Request("dynamodb:PutItem", TABLE))
    assert (decision.allowed, decision.effect, decision.statement) == (False, None, None)


def test_an_allow_that_covers_the_request_allows_it_and_is_named() -> None:
    granting = allow("dynamodb:GetItem", TABLE)
    decision = policy(allow("dynamodb:PutItem", TABLE), granting).decide(iam.Request("dynamodb:GetItem", TABLE))
    assert decision.allowed and decision.statement == policy(granting).statements[0]


@pytest.mark.parametrize("deny_first", [True, False])
def test_an_explicit_deny_wins_over_any_allow_in_either_order(deny_first: bool) -> None:
    statements = [allow("dynamodb:*", "*"), deny("dynamodb:DeleteItem", TABLE)]
    evaluated = policy(*(reversed(statements) if deny_first else statements))
    decision = evaluated.decide(iam.Request("dynamodb:DeleteItem", TABLE))
    assert decision.effect == "Deny" and not decision.allowed
    assert evaluated.decide(iam.Request("dynamodb:GetItem", TABLE)).allowed  # the Deny covers its action only


def test_a_deny_whose_condition_does_not_hold_leaves_the_allow() -> None:
    evaluated = policy(allow("dynamodb:GetItem", TABLE), deny("dynamodb:GetItem", TABLE, **prefixes("reset#*")))
    assert evaluated.decide(keyed("dynamodb:GetItem", "user#7")).allowed
    assert evaluated.decide(keyed("dynamodb:GetItem", "reset#a@example.com")).effect == "Deny"


def test_policies_of_one_role_are_evaluated_together() -> None:
    evaluated = iam.Policy.read(
        [{"Statement": allow("dynamodb:GetItem", TABLE)}, {"Statement": [deny("dynamodb:GetItem", TABLE)]}]
    )
    assert evaluated.decide(iam.Request("dynamodb:GetItem", TABLE)).effect == "Deny"


# Wildcards


@pytest.mark.parametrize(
    ("pattern", "action", "allowed"),
    [
        ("dynamodb:GetItem", "dynamodb:GetItem", True),
        ("dynamodb:getitem", "dynamodb:GetItem", True),  # actions ignore case
        ("DynamoDB:Get*", "dynamodb:GetItem", True),
        ("dynamodb:*Item", "dynamodb:DeleteItem", True),
        ("dynamodb:*Item", "dynamodb:Query", False),
        ("dynamodb:?etItem", "dynamodb:GetItem", True),
        ("dynamodb:?etItem", "dynamodb:BatchGetItem", False),  # `?` is one character
        ("dynamodb:Get", "dynamodb:GetItem", False),  # matched whole, not as a prefix
        ("*", "lambda:InvokeFunction", True),
        ("dynamodb:*", "lambda:InvokeFunction", False),
    ],
)
def test_action_wildcards(pattern: str, action: str, allowed: bool) -> None:
    assert policy(allow(pattern, TABLE)).decide(iam.Request(action, TABLE)).allowed is allowed


@pytest.mark.parametrize(
    ("pattern", "resource", "allowed"),
    [
        (TABLE, TABLE, True),
        (TABLE, OTHER_TABLE, False),
        (TABLE, f"{TABLE}/index/by-email", False),  # an index is a resource of its own
        (f"{TABLE}*", f"{TABLE}/index/by-email", True),
        (f"arn:aws:dynamodb:*:{LOCAL_ACCOUNT_ID}:table/*", OTHER_TABLE, True),
        (TABLE.upper(), TABLE, False),  # resources keep their case
        (f"arn:aws:dynamodb:{DEFAULT_REGION}:{LOCAL_ACCOUNT_ID}:table/lambda-aut?", TABLE, True),
        ("arn:aws:dynamodb:*:*:table/lambda.auth", TABLE, False),  # a dot is a dot, not a regular expression's
    ],
)
def test_resource_wildcards(pattern: str, resource: str, allowed: bool) -> None:
    assert policy(allow("dynamodb:GetItem", pattern)).decide(iam.Request("dynamodb:GetItem", resource)).allowed is (
        allowed
    )


def test_a_statement_applies_when_any_of_its_actions_and_any_of_its_resources_match() -> None:
    evaluated = policy(allow(["dynamodb:GetItem", "dynamodb:PutItem"], [OTHER_TABLE, TABLE]))
    assert evaluated.decide(iam.Request("dynamodb:PutItem", TABLE)).allowed
    assert not evaluated.decide(iam.Request("dynamodb:UpdateItem", TABLE)).allowed


# Conditions: dynamodb:LeadingKeys, key prefixes


def test_for_all_values_string_like_allows_keys_with_a_granted_prefix_only() -> None:
    evaluated = policy(allow("dynamodb:GetItem", TABLE, **prefixes("email#*", "counter#user")))
    assert evaluated.decide(keyed("dynamodb:GetItem", "email#a@example.com")).allowed
    assert evaluated.decide(keyed("dynamodb:GetItem", "counter#user")).allowed
    assert not evaluated.decide(keyed("dynamodb:GetItem", "counter#users")).allowed  # no wildcard, the whole key
    assert not evaluated.decide(keyed("dynamodb:GetItem", "user#7")).allowed
    assert not evaluated.decide(keyed("dynamodb:GetItem", "xemail#a@example.com")).allowed  # a prefix, not a part
    assert not evaluated.decide(keyed("dynamodb:GetItem", "")).allowed


def test_for_all_values_needs_every_value_of_the_key_to_match() -> None:
    evaluated = policy(allow("dynamodb:BatchGetItem", TABLE, **prefixes("user#*")))
    both = iam.Request("dynamodb:BatchGetItem", TABLE, {iam.LEADING_KEYS: ("user#1", "user#2")})
    mixed = iam.Request("dynamodb:BatchGetItem", TABLE, {iam.LEADING_KEYS: ("user#1", "email#a@example.com")})
    assert evaluated.decide(both).allowed
    assert not evaluated.decide(mixed).allowed


def test_for_all_values_passes_a_request_without_the_key_and_for_any_value_fails_it() -> None:
    # IAM's rule (and why a Scan is never granted in this template): ForAllValues over no values holds.
    scan = iam.Request("dynamodb:Scan", TABLE)
    assert policy(allow("dynamodb:Scan", TABLE, **prefixes("user#*"))).decide(scan).allowed
    any_value = {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["user#*"]}}
    assert not policy(allow("dynamodb:Scan", TABLE, **any_value)).decide(scan).allowed
    one = keyed("dynamodb:Scan", "user#7")
    assert policy(allow("dynamodb:Scan", TABLE, **any_value)).decide(one).allowed


def test_condition_keys_ignore_case() -> None:
    evaluated = policy(
        allow("dynamodb:GetItem", TABLE) | {"Condition": {"ForAllValues:StringLike": {"DynamoDB:LeadingKeys": "u*"}}}
    )
    assert evaluated.decide(keyed("dynamodb:GetItem", "user#7")).allowed
    assert not evaluated.decide(keyed("dynamodb:GetItem", "email#a@example.com")).allowed


def test_string_equals_needs_the_key_and_string_not_equals_passes_without_it() -> None:
    equals = policy(allow("ses:SendEmail", "*") | {"Condition": {"StringEquals": {"ses:FromAddress": "me@x.org"}}})
    not_equals = policy(
        allow("ses:SendEmail", "*") | {"Condition": {"StringNotEquals": {"ses:FromAddress": "me@x.org"}}}
    )
    sender = iam.Request("ses:SendEmail", "*", {"ses:fromaddress": ("me@x.org",)})
    other = iam.Request("ses:SendEmail", "*", {"ses:fromaddress": ("you@x.org",)})
    unknown = iam.Request("ses:SendEmail", "*")
    assert [equals.decide(request).allowed for request in (sender, other, unknown)] == [True, False, False]
    assert [not_equals.decide(request).allowed for request in (sender, other, unknown)] == [False, True, True]


def test_string_not_like_refuses_a_matching_value() -> None:
    evaluated = policy(
        allow("dynamodb:GetItem", TABLE)
        | {"Condition": {"ForAllValues:StringNotLike": {"dynamodb:LeadingKeys": ["reset#*"]}}}
    )
    assert evaluated.decide(keyed("dynamodb:GetItem", "user#7")).allowed
    assert not evaluated.decide(keyed("dynamodb:GetItem", "reset#a@example.com")).allowed


def test_operators_and_keys_of_a_condition_all_hold() -> None:
    condition = {
        "StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com", "kms:CallerAccount": "123456789012"},
        "StringLike": {"kms:EncryptionContext:aws:dynamodb:tableName": "lambda-*"},
    }
    evaluated = policy(allow("kms:Decrypt", "*") | {"Condition": condition})
    context = {
        "kms:viaservice": ("dynamodb.us-east-1.amazonaws.com",),
        "kms:calleraccount": ("123456789012",),
        "kms:encryptioncontext:aws:dynamodb:tablename": ("lambda-auth",),
    }
    assert evaluated.decide(iam.Request("kms:Decrypt", "*", context)).allowed
    for key in context:
        wrong = context | {key: ("other",)}
        assert not evaluated.decide(iam.Request("kms:Decrypt", "*", wrong)).allowed, key


# What the evaluator refuses to read, rather than ignore


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ({"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": "*"}, "NotAction"),
        ({"Effect": "Allow", "Action": "dynamodb:GetItem", "NotResource": TABLE}, "NotResource"),
        ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}, "Principal"),
        ({"Effect": "Permit", "Action": "dynamodb:GetItem", "Resource": "*"}, "Effect"),
        ({"Effect": "Allow", "Resource": "*"}, "Action"),
        ({"Effect": "Allow", "Action": "dynamodb:GetItem"}, "Resource"),
        ({"Effect": "Allow", "Action": [], "Resource": "*"}, "Action"),
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:username}/*"}, "variable"),
        (allow("dynamodb:GetItem", TABLE) | {"Condition": {"NumericLessThan": {"aws:EpochTime": "1"}}}, "operator"),
        (allow("dynamodb:GetItem", TABLE) | {"Condition": {"StringEqualsIfExists": {"a:b": "c"}}}, "operator"),
        (allow("dynamodb:GetItem", TABLE) | {"Condition": {"ForEachValue:StringLike": {"a:b": "c"}}}, "operator"),
        (allow("dynamodb:GetItem", TABLE) | {"Condition": {"StringLike": {}}}, "names no key"),
        (allow("dynamodb:GetItem", TABLE) | {"Condition": ["StringLike"]}, "Condition"),
    ],
)
def test_a_statement_it_cannot_evaluate_faithfully_is_refused_by_name(statement: dict[str, Any], named: str) -> None:
    with pytest.raises(iam.PolicyError, match=named):
        policy(statement)


@pytest.mark.parametrize("document", [[], "policy", {"Version": "2012-10-17"}, {"Statement": "Allow"}])
def test_a_document_that_is_not_a_policy_is_refused(document: Any) -> None:
    with pytest.raises(iam.PolicyError):
        iam.Policy.read([document])


# DynamoDB's calls, as IAM authorizes them


def item(key: str) -> dict[str, Any]:
    return {"pk": {"S": key}}


def requests(operation: str, body: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    found = iam.dynamodb_requests(operation, body, DEFAULT_REGION, LOCAL_ACCOUNT_ID, "pk")
    return [(request.action, request.resource, request.context.get(iam.LEADING_KEYS, ())) for request in found]


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("GetItem", {"TableName": LOCAL_TABLE_NAME, "Key": item("user#7"), "ConsistentRead": True}),
        ("DeleteItem", {"TableName": LOCAL_TABLE_NAME, "Key": item("user#7")}),
        ("UpdateItem", {"TableName": LOCAL_TABLE_NAME, "Key": item("user#7"), "UpdateExpression": "ADD #0 :0"}),
        ("PutItem", {"TableName": LOCAL_TABLE_NAME, "Item": item("user#7") | {"name": {"S": "Noor"}}}),
    ],
)
def test_a_single_item_call_is_its_action_on_the_table_with_the_items_partition_key(
    operation: str, body: dict[str, Any]
) -> None:
    assert requests(operation, body) == [(f"dynamodb:{operation}", TABLE, ("user#7",))]


def test_a_table_named_by_its_arn_is_that_arn() -> None:
    assert requests("GetItem", {"TableName": OTHER_TABLE, "Key": item("user#7")})[0][1] == OTHER_TABLE


def test_a_write_transaction_is_authorized_item_by_item_as_the_single_item_action_each_performs() -> None:
    body = {
        "TransactItems": [
            {"ConditionCheck": {"TableName": LOCAL_TABLE_NAME, "Key": item("email#a@example.com")}},
            {"Put": {"TableName": LOCAL_TABLE_NAME, "Item": item("sessions#7") | {"sessions": {"M": {}}}}},
            {"Update": {"TableName": LOCAL_TABLE_NAME, "Key": item("email#b@example.com")}},
            {"Delete": {"TableName": OTHER_TABLE, "Key": item("reset#b@example.com")}},
        ],
        "ClientRequestToken": "f2b7",
    }
    assert requests("TransactWriteItems", body) == [
        ("dynamodb:ConditionCheckItem", TABLE, ("email#a@example.com",)),
        ("dynamodb:PutItem", TABLE, ("sessions#7",)),
        ("dynamodb:UpdateItem", TABLE, ("email#b@example.com",)),
        ("dynamodb:DeleteItem", OTHER_TABLE, ("reset#b@example.com",)),
    ]


def test_a_read_transaction_is_a_get_per_item() -> None:
    body = {"TransactItems": [{"Get": {"TableName": LOCAL_TABLE_NAME, "Key": item(key)}} for key in ("user#1", "a#")]}
    assert requests("TransactGetItems", body) == [
        ("dynamodb:GetItem", TABLE, ("user#1",)),
        ("dynamodb:GetItem", TABLE, ("a#",)),
    ]


def test_a_batch_is_its_own_action_per_item() -> None:
    get = {"RequestItems": {LOCAL_TABLE_NAME: {"Keys": [item("user#1"), item("user#2")], "ConsistentRead": True}}}
    assert requests("BatchGetItem", get) == [
        ("dynamodb:BatchGetItem", TABLE, ("user#1",)),
        ("dynamodb:BatchGetItem", TABLE, ("user#2",)),
    ]
    write = {
        "RequestItems": {
            LOCAL_TABLE_NAME: [{"PutRequest": {"Item": item("user#1")}}, {"DeleteRequest": {"Key": item("user#2")}}]
        }
    }
    assert requests("BatchWriteItem", write) == [
        ("dynamodb:BatchWriteItem", TABLE, ("user#1",)),
        ("dynamodb:BatchWriteItem", TABLE, ("user#2",)),
    ]


def test_a_query_is_authorized_on_the_partition_key_its_condition_names() -> None:
    pynamodb_style = {
        "TableName": LOCAL_TABLE_NAME,
        "KeyConditionExpression": "#0 = :0",
        "ExpressionAttributeNames": {"#0": "pk"},
        "ExpressionAttributeValues": {":0": {"S": "sessions#7"}},
    }
    plain = {
        "TableName": LOCAL_TABLE_NAME,
        "KeyConditionExpression": "pk = :key AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":key": {"S": "user#7"}, ":prefix": {"S": "a"}},
    }
    legacy = {
        "TableName": LOCAL_TABLE_NAME,
        "KeyConditions": {"pk": {"AttributeValueList": [{"S": "email#a@example.com"}], "ComparisonOperator": "EQ"}},
    }
    assert requests("Query", pynamodb_style) == [("dynamodb:Query", TABLE, ("sessions#7",))]
    assert requests("Query", plain) == [("dynamodb:Query", TABLE, ("user#7",))]
    assert requests("Query", legacy) == [("dynamodb:Query", TABLE, ("email#a@example.com",))]


def test_a_scan_and_a_table_operation_carry_no_leading_keys() -> None:
    assert requests("Scan", {"TableName": LOCAL_TABLE_NAME}) == [("dynamodb:Scan", TABLE, ())]
    assert requests("DescribeTable", {"TableName": LOCAL_TABLE_NAME}) == [("dynamodb:DescribeTable", TABLE, ())]
    assert requests("ListTables", {}) == [("dynamodb:ListTables", "*", ())]


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("GetItem", []),
        ("GetItem", {"TableName": LOCAL_TABLE_NAME, "Key": "user#7"}),
        ("PutItem", {"TableName": LOCAL_TABLE_NAME, "Item": {"pk": "user#7"}}),
        ("TransactWriteItems", {"TransactItems": "Put"}),
        ("TransactWriteItems", {"TransactItems": [{"Put": []}, {"Put": {}, "Delete": {}}, "Update"]}),
        ("BatchGetItem", {"RequestItems": [LOCAL_TABLE_NAME]}),
        ("BatchGetItem", {"RequestItems": {LOCAL_TABLE_NAME: [item("user#7")]}}),
        ("BatchGetItem", {"RequestItems": {LOCAL_TABLE_NAME: {"Keys": "user#7"}}}),
        ("BatchWriteItem", {"RequestItems": {LOCAL_TABLE_NAME: [{"PutRequest": {"Key": item("user#7")}}]}}),
        ("BatchWriteItem", {"RequestItems": {LOCAL_TABLE_NAME: [{"PutRequest": {}, "DeleteRequest": []}]}}),
        ("BatchWriteItem", {"RequestItems": {LOCAL_TABLE_NAME: {"PutRequest": {"Item": item("user#7")}}}}),
        ("Query", {"TableName": LOCAL_TABLE_NAME, "KeyConditions": {"pk": {"AttributeValueList": "x"}}}),
        ("Query", {"TableName": LOCAL_TABLE_NAME, "ExpressionAttributeValues": [], "KeyConditionExpression": "pk=:v"}),
        ("Scan", {"TableName": ["lambda-auth"]}),
    ],
)
def test_a_malformed_call_is_refused_by_any_grant_on_key_prefixes_never_an_error(operation: str, body: Any) -> None:
    # DynamoDB answers such a call with a ValidationException; the guard must not fail (a 500) before it.
    granted = policy(allow("dynamodb:*", TABLE, **prefixes("user#*")))
    found = iam.dynamodb_requests(operation, body, DEFAULT_REGION, LOCAL_ACCOUNT_ID, "pk")
    assert found, "a call authorizes at least one request"
    assert not all(granted.decide(request).allowed for request in found)


# The template's roles, as `lambda-auth serve` enforces them


SENDER = "no-reply@example.com"
KMS_KEY = f"arn:aws:kms:{DEFAULT_REGION}:{LOCAL_ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@functools.cache
def roles(**overrides: str) -> Roles:
    return Roles(template.application(overrides={"MailSenderAddress": SENDER, **overrides}))


EMAIL = "a@example.com"
IP = "192.0.2.1"
USER = layout.profile(7)
CREDENTIALS = layout.credentials(EMAIL)
SESSIONS = layout.sessions(7)
RESET = layout.reset(EMAIL)
COUNTER = layout.USER_COUNTER


def limit(name: str) -> str:
    return layout.attempts(name, IP if name.endswith("-ip") else EMAIL)


Call = tuple[str, Any]  # a DynamoDB operation and its body, as PynamoDB sends it; or an action and its resource


def get(key: str) -> Call:
    return "GetItem", {"TableName": LOCAL_TABLE_NAME, "Key": item(key), "ConsistentRead": True}


def update(key: str) -> Call:
    return "UpdateItem", {"TableName": LOCAL_TABLE_NAME, "Key": item(key), "UpdateExpression": "ADD #0 :0"}


def put(key: str) -> Call:
    return "PutItem", {"TableName": LOCAL_TABLE_NAME, "Item": item(key)}


def delete(key: str) -> Call:
    return "DeleteItem", {"TableName": LOCAL_TABLE_NAME, "Key": item(key)}


def transaction(*writes: tuple[str, str]) -> Call:
    """A TransactWriteItems of (kind, key) writes: Put, Update, Delete, ConditionCheck."""
    items = [
        {kind: {"TableName": LOCAL_TABLE_NAME, ("Item" if kind == "Put" else "Key"): item(key)}} for kind, key in writes
    ]
    return "TransactWriteItems", {"TransactItems": items, "ClientRequestToken": "0c1d"}


MAILER = f"arn:aws:lambda:{DEFAULT_REGION}:{LOCAL_ACCOUNT_ID}:function:PasswordResetMailerFunction"
TOKEN_KEYS = "TokenKeys"  # the secret, as the local resolver gives a Ref to it (in AWS: its ARN, which the grant names)
READ_KEYS: Call = ("secretsmanager:GetSecretValue", TOKEN_KEYS)
HAND_OVER: Call = ("lambda:InvokeFunction", MAILER)
SEND_MAIL: Call = ("ses:SendEmail", SENDER)

# What each function's code calls, read from the layer: the route's domain module and the store modules it uses.
CALLS: dict[str, list[Call]] = {
    "SignupFunction": [
        update(limit("signup-ip")),  # limits.reserve -> attempts.count_attempt
        update(COUNTER),  # users._next_user_id
        transaction(("Put", CREDENTIALS), ("Put", USER)),  # users.create_user
        get(CREDENTIALS),  # users.create_user, the transaction refused: whose the email is
        update(SESSIONS),  # signin.start -> sessions.start (first=True), and the expired entries removed
        READ_KEYS,  # keys.current_store, at cold start and every AUTH_KEYS_CACHE_SECONDS
    ],
    "LoginFunction": [
        update(limit("login-email")),
        update(limit("login-ip")),  # limits.reserve
        get(CREDENTIALS),  # users.get_credentials
        get(SESSIONS),  # sessions.recorded, which the new session's entry is written against
        transaction(("ConditionCheck", CREDENTIALS), ("Update", SESSIONS)),  # require_unchanged, sessions.begin
        transaction(("Update", CREDENTIALS), ("Update", SESSIONS)),  # replace_password_hash (a re-hash), begin
        delete(limit("login-email")),  # limits.clear
        READ_KEYS,
    ],
    "MeFunction": [get(USER)],  # profiles.profile -> users.get_user
    "AuthorizerFunction": [get(SESSIONS), READ_KEYS],  # session_check.read_live; the keys
    "LogoutFunction": [
        update(SESSIONS),  # sessions.end (local), end_others
        get(SESSIONS),  # sessions.of (others)
        delete(SESSIONS),  # sessions.end_all (global)
    ],
    "PasswordChangeFunction": [
        get(USER),  # users.get_user
        get(SESSIONS),  # sessions.of, and is_live after a refused transaction
        update(limit("login-email")),
        update(limit("login-ip")),
        get(CREDENTIALS),  # users.get_credentials; has_password_hash after a refused transaction
        transaction(("Update", CREDENTIALS), ("Update", SESSIONS)),  # users.set_password, sessions.keep_only
        delete(limit("login-email")),  # limits.clear
        READ_KEYS,
    ],
    "PasswordResetFunction": [update(limit("reset-email")), update(limit("reset-ip")), HAND_OVER],
    "PasswordResetMailerFunction": [
        get(CREDENTIALS),  # users.get_credentials
        put(RESET),  # resets.put
        get(RESET),  # resets.put, the request's code stored already
        READ_KEYS,  # the key the code is derived with
        SEND_MAIL,  # mail.send
    ],
    "PasswordResetConfirmFunction": [
        update(limit("login-ip")),  # limits.reserve, and release
        update(RESET),  # resets.check
        transaction(("Delete", RESET), ("Update", CREDENTIALS), ("Put", SESSIONS)),  # spend, set_password, keep_only
        get(CREDENTIALS),  # users.has_password_hash after a refused transaction
        delete(limit("login-email")),  # limits.clear: a reset lifts the email's lockout
        READ_KEYS,
    ],
}


def authorized(call: Call) -> list[iam.Request]:
    """What IAM authorizes for `call`, as the local server's guards ask."""
    action, argument = call
    if ":" not in action:  # a DynamoDB operation and its body
        return iam.dynamodb_requests(action, argument, DEFAULT_REGION, LOCAL_ACCOUNT_ID, "pk")
    if action == "ses:SendEmail":  # SES v2 authorizes on the identity, its condition key the sender
        return [iam.Request(action, "*", {"ses:fromaddress": (argument,)})]
    return [iam.Request(action, argument)]


def refusal(function: str, call: Call, role_set: Roles | None = None) -> str | None:
    role = (role_set or roles()).by_function[function]
    return (role_set or roles()).denial(role.credentials.access_key_id, authorized(call))


def test_every_function_of_the_template_is_listed() -> None:
    assert set(roles().by_function) == set(CALLS)


@pytest.mark.parametrize(("function", "call"), [(f, call) for f, calls in CALLS.items() for call in calls])
def test_each_role_allows_the_calls_its_code_makes(function: str, call: Call) -> None:
    assert refusal(function, call) is None


def requested(call: Call) -> set[tuple[Any, ...]]:
    return {(request.action, request.resource, tuple(sorted(request.context.items()))) for request in authorized(call)}


def neighbours_calls() -> list[tuple[str, Call]]:
    """For each function, every call another function makes that asks IAM for something its own calls do not (a
    standalone write a role grants inside a transaction is one IAM cannot tell apart, so it is not among them)."""
    found = []
    for function, calls in CALLS.items():
        own = set().union(*(requested(call) for call in calls))
        for other, others in CALLS.items():
            for call in others:
                if other != function and not requested(call) <= own and (function, call) not in found:
                    found.append((function, call))
    return found


@pytest.mark.parametrize(("function", "call"), neighbours_calls())
def test_each_role_refuses_every_call_only_a_neighbour_makes(function: str, call: Call) -> None:
    reason = refusal(function, call)
    assert reason is not None
    assert reason.startswith(f"User: arn:aws:sts::{LOCAL_ACCOUNT_ID}:assumed-role/{function}Role/{function} ")


def test_me_may_not_write_credentials_nor_read_them() -> None:
    for call in (put(CREDENTIALS), update(CREDENTIALS), delete(CREDENTIALS), get(CREDENTIALS)):
        assert refusal("MeFunction", call) is not None


def test_the_authorizer_may_not_read_reset_codes_nor_anything_but_sessions() -> None:
    assert refusal("AuthorizerFunction", get(RESET)) is not None
    for key in (USER, CREDENTIALS, COUNTER, limit("login-ip")):
        assert refusal("AuthorizerFunction", get(key)) is not None
    assert refusal("AuthorizerFunction", update(SESSIONS)) is not None


def test_one_ungranted_write_refuses_the_whole_transaction_and_names_its_action() -> None:
    # Signup may put credentials and profiles, not a reset code: a transaction carrying one is refused.
    reason = refusal("SignupFunction", transaction(("Put", CREDENTIALS), ("Put", RESET)))
    assert reason is not None and "dynamodb:PutItem" in reason
    # Login may check credentials in a transaction, not delete them.
    reason = refusal("LoginFunction", transaction(("Delete", CREDENTIALS), ("Update", SESSIONS)))
    assert reason is not None and "dynamodb:DeleteItem" in reason


def test_a_grant_on_the_users_table_covers_no_other_table() -> None:
    call = ("GetItem", {"TableName": "another", "Key": item(USER)})
    assert refusal("MeFunction", call) is not None


def test_no_role_may_scan_or_query_the_table() -> None:
    scan = ("Scan", {"TableName": LOCAL_TABLE_NAME})
    query = (
        "Query",
        {
            "TableName": LOCAL_TABLE_NAME,
            "KeyConditionExpression": "#0 = :0",
            "ExpressionAttributeNames": {"#0": "pk"},
            "ExpressionAttributeValues": {":0": {"S": SESSIONS}},
        },
    )
    for function in CALLS:
        assert refusal(function, scan) is not None and refusal(function, query) is not None, function


def test_only_the_reset_request_may_invoke_and_only_the_mailer() -> None:
    allowed = [function for function in CALLS if refusal(function, HAND_OVER) is None]
    assert allowed == ["PasswordResetFunction"]
    assert refusal("PasswordResetFunction", ("lambda:InvokeFunction", f"{MAILER}:$LATEST")) is None  # qualified
    signup = f"arn:aws:lambda:{DEFAULT_REGION}:{LOCAL_ACCOUNT_ID}:function:SignupFunction"
    assert refusal("PasswordResetFunction", ("lambda:InvokeFunction", signup)) is not None


def test_the_functions_that_issue_or_verify_tokens_read_the_keys_secret_and_no_other() -> None:
    readers = {function for function in CALLS if refusal(function, READ_KEYS) is None}
    assert readers == {
        "SignupFunction",
        "LoginFunction",
        "AuthorizerFunction",
        "PasswordChangeFunction",
        "PasswordResetConfirmFunction",
        "PasswordResetMailerFunction",
    }
    assert refusal("SignupFunction", ("secretsmanager:GetSecretValue", "AnotherSecret")) is not None
    assert refusal("SignupFunction", ("secretsmanager:PutSecretValue", TOKEN_KEYS)) is not None


def test_only_the_mailer_sends_mail_and_only_from_the_configured_sender() -> None:
    assert [function for function in CALLS if refusal(function, SEND_MAIL) is None] == ["PasswordResetMailerFunction"]
    assert refusal("PasswordResetMailerFunction", ("ses:SendEmail", "someone-else@example.com")) is not None


def test_with_a_kms_key_each_role_decrypts_through_the_services_it_uses_only() -> None:
    keyed_roles = roles(KmsKeyArn=KMS_KEY)

    def decrypt(function: str, service: str, **context: str) -> bool:
        values = {"kms:viaservice": (f"{service}.{DEFAULT_REGION}.amazonaws.com",)}
        values |= {f"kms:encryptioncontext:{key.lower()}": (value,) for key, value in context.items()}
        role = keyed_roles.by_function[function]
        request = iam.Request("kms:Decrypt", KMS_KEY, values)
        return keyed_roles.denial(role.credentials.access_key_id, [request]) is None

    table_context = {"aws:dynamodb:tableName": LOCAL_TABLE_NAME}
    assert decrypt("MeFunction", "dynamodb", **table_context)
    assert not decrypt("MeFunction", "dynamodb", **{"aws:dynamodb:tableName": "another"})
    assert not decrypt("MeFunction", "secretsmanager", SecretARN=TOKEN_KEYS)  # me reads no secret
    assert decrypt("AuthorizerFunction", "secretsmanager", SecretARN=TOKEN_KEYS)
    assert not decrypt("AuthorizerFunction", "s3", **table_context)


def test_an_allowed_call_is_logged_with_the_grant_never_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="lambda_auth_cli.roles")
    assert refusal("MeFunction", get(USER)) is None
    assert refusal("MeFunction", get(CREDENTIALS)) is not None
    allowed, denied = caplog.messages
    assert allowed == "MeFunction allowed dynamodb:GetItem on user#*"
    assert denied.startswith("MeFunction denied: ") and "dynamodb:GetItem" in denied
    assert USER not in allowed and CREDENTIALS not in denied  # the grant's prefix, not the item's key
    assert roles().by_function["MeFunction"].credentials.access_key_id not in caplog.text


def test_a_key_of_no_role_is_left_to_the_run_s_own_key_check() -> None:
    assert roles().denial("LOCALNOSUCHKEYATALL", authorized(put(CREDENTIALS))) is None
    assert roles().credentials("LOCALNOSUCHKEYATALL") is None


def test_each_role_has_a_key_of_its_own() -> None:
    keys = [role.credentials.access_key_id for role in roles().by_function.values()]
    assert len(set(keys)) == len(keys) == len(CALLS)
    for role in roles().by_function.values():
        assert roles().credentials(role.credentials.access_key_id) == role.credentials


def test_a_role_whose_policy_cannot_be_evaluated_stops_the_server_naming_the_role() -> None:
    app = template.application()
    me = app.functions["MeFunction"]
    unreadable = {"Statement": [{"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": "*"}]}
    app.functions["MeFunction"] = dataclasses.replace(me, policies=(*me.policies, unreadable))
    with pytest.raises(template.TemplateError, match=r"^MeFunctionRole \(MeFunction's role\): .*NotAction"):
        Roles(app)
