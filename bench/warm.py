"""Warm calls, in this process, each timed in alternation with the floor of its unavoidable work:
- authorizer, a token it has not seen: jwcrypto's own decryption of the same token with the
  same key (`JWE()`, `deserialize(token, key)`, `payload`) plus one bare GetItem (boto3,
  consistent read) of the token's session item on the same endpoint, ≤ 1.2x;
- authorizer, a token it has seen, its session checked within AUTH_SESSION_CHECK_SECONDS
  (the template's default, 10 s: revocation on): an absolute 10 µs for the whole handler call;
- /auth/me: one bare GetItem (boto3, consistent read) of the same item on the same endpoint, ≤ 1.3x;
- login: argon2 verification with the same parameters, plus the DynamoDB calls a successful
  login makes, with boto3: the two attempt counters counted (UpdateItem), the credentials
  read (GetItem), the new session recorded on condition that the credentials are still those
  checked (TransactWriteItems: a ConditionCheck and an Update), the email's counter cleared
  (DeleteItem) and the address's attempt taken back (UpdateItem), ≤ 1.2x;
- signup: argon2 hashing with the same parameters, plus the two UpdateItems, the
  TransactWriteItems and the first session's UpdateItem that signup makes, with boto3, ≤ 1.2x;
- enumeration: a login with an unknown email against a wrong password, a password reset
  request for an unknown email against one for an email with an account, and a confirmation
  for an email without a pending code against a wrong code, each pair's medians within 20%
  of each other.
And `lambda-auth serve`'s throughput for /auth/me, for reference.
"""

from __future__ import annotations

import functools
import http.client
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from . import load, project, servers
from .environment import FUNCTIONS, PASSWORD, REGION, TABLE, Context, Environment, event, quiet_stdout
from .report import Results, Row
from .timing import paired, repeated, series

Handler = Callable[[Any, Any], Any]


def load_handler(name: str) -> Handler:
    """functions/<name>/app.py under a name of its own, as Lambda keeps functions apart."""
    spec = importlib.util.spec_from_file_location(f"bench_function_{name}", FUNCTIONS / name / "app.py")
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], Any] = module.lambda_handler
    return handler


def authorizer(env: Environment, results: Results, tokens_count: int, hits: int) -> None:
    """A token the authorizer has not seen (against jwcrypto's own decryption plus one bare GetItem of
    the token's session), and one it has (its session checked within the window)."""
    from jwcrypto import jwe

    handler = load_handler("authorizer")
    context = Context("authorizer")
    key = project.current_key()
    # A session each, 40 to a user: moto copies every item for each transaction, so the bench keeps
    # the table's item count (and so the later routes' transactions) small.
    owners = [1000 + index // 40 for index in range(tokens_count + 3)]
    issued = [project.issue_token(owner) for owner in owners]
    template = event("authorizer")
    events = [{**template, "headers": {**template["headers"], "Authorization": f"Bearer {t}"}} for t in issued]
    client = boto3.client("dynamodb", endpoint_url=env.endpoint, region_name=REGION)

    def bare(index: int) -> object:
        decryption = jwe.JWE()
        decryption.deserialize(issued[index], key=key)
        client.get_item(TableName=TABLE, Key=project.session_key(owners[index]), ConsistentRead=True)
        return decryption.payload

    with quiet_stdout():
        unseen, floor = paired(lambda index: handler(events[index], context), bare, tokens_count)
        seen_event = events[0]
        seen = repeated(lambda: handler(seen_event, context), hits)
    results.warm["authorizer (token not seen)"] = unseen
    results.warm["authorizer (token seen)"] = seen
    results.rows += [
        Row("authorizer, warm: a token it has not seen", unseen.median, unseen.p95, floor.median, 1.2),
        Row(
            "authorizer, warm: a token it has seen (cache)",
            seen.median,
            seen.p95,
            limit=10e-6,
            absolute=True,
            note="whole handler call",
        ),
    ]


def me(env: Environment, results: Results, rounds: int) -> None:
    """/auth/me against one bare GetItem of the same item."""
    handler = load_handler("me")
    context = Context("me")
    user_id = project.create_user(f"bench.me.{env.run}@example.com", "-")
    me_event = event("me")
    me_event["requestContext"]["authorizer"] = {"principalId": str(user_id), "userId": str(user_id), "extras": "{}"}
    client = boto3.client("dynamodb", endpoint_url=env.endpoint, region_name=REGION)
    key = {"pk": {"S": f"user#{user_id}"}}

    def route(_: int) -> None:
        answer = handler(me_event, context)
        assert answer["statusCode"] == 200, answer

    with quiet_stdout():
        subject, floor = paired(
            route, lambda _: client.get_item(TableName=TABLE, Key=key, ConsistentRead=True), rounds, warmup=20
        )
    results.warm["me"] = subject
    results.rows.append(Row("/auth/me, warm", subject.median, subject.p95, floor.median, 1.3))


def login_and_signup(env: Environment, results: Results, rounds: int) -> None:
    """Login and signup against argon2 with the same parameters plus their DynamoDB calls made with boto3."""
    import argon2

    login = load_handler("login")
    signup = load_handler("signup")
    client = boto3.client("dynamodb", endpoint_url=env.endpoint, region_name=REGION)
    # The floor's argon2: the parameters the layer's own hashes record.
    encoded = project.hash_password(PASSWORD)
    hasher = argon2.PasswordHasher.from_parameters(argon2.extract_parameters(encoded))
    run = env.run

    def body_event(name: str, body: dict[str, str]) -> dict[str, Any]:
        return event(name, body=json.dumps(body))

    with quiet_stdout():
        email = f"bench.login.{run}@example.com"
        assert (
            signup(body_event("signup", {"email": email, "password": PASSWORD}), Context("signup"))["statusCode"] == 200
        )
        login_event = body_event("login", {"email": email, "password": PASSWORD})
        context = Context("login")

        def login_route(_: int) -> None:
            answer = login(login_event, context)
            assert answer["statusCode"] == 200, answer

        email_counter = {"pk": {"S": f"limit#bench-floor-email#{run}"}}
        address_counter = {"pk": {"S": f"limit#bench-floor-ip#{run}"}}
        for counter in (email_counter, address_counter):
            client.put_item(
                TableName=TABLE,
                Item={**counter, "attempts": {"N": "0"}, "window_ends_at": {"N": str(int(time.time()) + 86400)}},
            )

        def count_attempt(counter: dict[str, Any], change: str, condition: str) -> None:
            client.update_item(
                TableName=TABLE,
                Key=counter,
                UpdateExpression="ADD #attempts :change",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#attempts": "attempts", "#window_ends_at": "window_ends_at"}
                if "window_ends_at" in condition
                else {"#attempts": "attempts"},
                ExpressionAttributeValues={":change": {"N": change}, ":now": {"N": str(int(time.time()))}}
                if ":now" in condition
                else {":change": {"N": change}, ":zero": {"N": "0"}},
                ReturnValues="ALL_NEW",
            )

        floor_sessions = {"pk": {"S": f"sessions#bench-floor-{run}"}}
        client.put_item(TableName=TABLE, Item={**floor_sessions, "sessions": {"M": {}}})

        def record_session(key: dict[str, Any], index: int, first: bool) -> None:
            entry = {"M": {"created_at": {"N": str(int(time.time()))}, "expires_at": {"N": str(int(time.time()) + 60)}}}
            client.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET #sessions = :map" if first else "SET #sessions.#sid = :entry",
                ConditionExpression="attribute_not_exists(#sessions)" if first else "attribute_exists(#sessions)",
                ExpressionAttributeNames={"#sessions": "sessions"}
                if first
                else {"#sessions": "sessions", "#sid": f"s{index}"},
                ExpressionAttributeValues={":map": {"M": {f"s{index}": entry}}} if first else {":entry": entry},
                ReturnValues="ALL_NEW",
            )

        credentials = {"pk": {"S": f"email#{email}"}}

        def record_session_if_unchanged(index: int, password_hash: dict[str, Any]) -> None:
            """The new session, in the user's item, in one transaction with a check that the hash is unchanged."""
            entry = {"M": {"created_at": {"N": str(int(time.time()))}, "expires_at": {"N": str(int(time.time()) + 60)}}}
            check = {
                "TableName": TABLE,
                "Key": credentials,
                "ConditionExpression": "#hash = :hash",
                "ExpressionAttributeNames": {"#hash": "password_hash"},
                "ExpressionAttributeValues": {":hash": password_hash},
            }
            update = {
                "TableName": TABLE,
                "Key": floor_sessions,
                "UpdateExpression": "SET #sessions.#sid = :entry",
                "ConditionExpression": "attribute_exists(#sessions)",
                "ExpressionAttributeNames": {"#sessions": "sessions", "#sid": f"s{index}"},
                "ExpressionAttributeValues": {":entry": entry},
            }
            client.transact_write_items(TransactItems=[{"ConditionCheck": check}, {"Update": update}])

        def login_floor(index: int) -> None:
            count_attempt(email_counter, "1", "#window_ends_at > :now")
            count_attempt(address_counter, "1", "#window_ends_at > :now")
            read = client.get_item(TableName=TABLE, Key=credentials, ConsistentRead=True)
            hasher.verify(encoded, PASSWORD)
            record_session_if_unchanged(index, read["Item"]["password_hash"])
            # The floor keeps its counter to reuse it; login deletes the email's: one write each.
            count_attempt(email_counter, "-1", "#attempts > :zero")
            count_attempt(address_counter, "-1", "#attempts > :zero")

        login_samples, login_floor_samples = paired(login_route, login_floor, rounds)

        signup_context = Context("signup")

        def signup_route(index: int) -> None:
            body = {"name": "Ada", "email": f"bench.signup.{run}.{index}@example.com", "password": PASSWORD}
            answer = signup(body_event("signup", body), signup_context)
            assert answer["statusCode"] == 200, answer

        # The floor's own attempt counter, its window open, as signup's is after its first call.
        floor_counter = {"pk": {"S": f"limit#bench-floor#{run}"}}
        client.put_item(
            TableName=TABLE,
            Item={**floor_counter, "attempts": {"N": "0"}, "window_ends_at": {"N": str(int(time.time()) + 86400)}},
        )

        def signup_floor(index: int) -> None:
            now = int(time.time())
            client.update_item(
                TableName=TABLE,
                Key=floor_counter,
                UpdateExpression="ADD #attempts :one",
                ConditionExpression="#window_ends_at > :now",
                ExpressionAttributeNames={"#attempts": "attempts", "#window_ends_at": "window_ends_at"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(now)}},
                ReturnValues="ALL_NEW",
            )
            client.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "counter#bench-floor"}},
                UpdateExpression="ADD #value :one",
                ExpressionAttributeNames={"#value": "value"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
            password_hash = hasher.hash(PASSWORD)
            user_id = str(10**12 + index)
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": TABLE,
                            "Item": {
                                "pk": {"S": f"email#bench.floor.{run}.{index}@example.com"},
                                "user_id": {"N": user_id},
                                "password_hash": {"S": password_hash},
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": TABLE,
                            "Item": {
                                "pk": {"S": f"user#floor.{run}.{index}"},
                                "id": {"N": user_id},
                                "email": {"S": f"bench.floor.{run}.{index}@example.com"},
                                "name": {"S": "Ada"},
                                "created_at": {"N": str(now * 1000)},
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ],
                ClientRequestToken=str(uuid.uuid4()),
            )
            record_session({"pk": {"S": f"sessions#floor.{run}.{index}"}}, index, first=True)  # the user's first

        signup_samples, signup_floor_samples = paired(signup_route, signup_floor, rounds)
    results.warm["login"] = login_samples
    results.warm["signup"] = signup_samples
    results.rows += [
        Row("login, warm", login_samples.median, login_samples.p95, login_floor_samples.median, 1.2),
        Row("signup, warm", signup_samples.median, signup_samples.p95, signup_floor_samples.median, 1.2),
    ]


def serve_throughput(env: Environment, results: Results, seconds: float) -> None:
    """`lambda-auth serve` under load on /auth/me, for reference: its threads share one interpreter."""
    stage = env.artifact.template["Parameters"]["StageName"]["Default"]
    executable = Path(sys.executable).parent / "lambda-auth"
    server_env = {name: value for name, value in env.function_env.items() if name.startswith("AWS_")}
    with servers.local_api(executable, env.workdir / "serve-jwks.json", server_env) as port:
        connection = http.client.HTTPConnection(servers.HOST, port, timeout=30)
        body = json.dumps({"email": f"bench.serve.{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD})
        connection.request("POST", f"/{stage}/auth/signup", body=body, headers={"Content-Type": "application/json"})
        reply = connection.getresponse()
        token = json.loads(reply.read())["authToken"]
        connection.close()
        headers = {"Authorization": f"Bearer {token}"}
        load.run(port, f"/{stage}/auth/me", headers, connections=4, max_requests=200, max_seconds=seconds)
        result = load.run(port, f"/{stage}/auth/me", headers, connections=4, max_seconds=seconds)
    note = f"{result.per_second:.0f} requests/s, 4 keep-alive connections, {result.requests} requests"
    if result.failures:
        note += f", {result.failures} FAILED"
    results.rows.append(Row("lambda-auth serve, GET /auth/me under load", result.median, result.p95, note=note))


def enumeration(env: Environment, results: Results, rounds: int) -> None:
    """Login and the reset routes answer an unknown email as they answer a known one, in the same time."""
    login = load_handler("login")
    request = load_handler("password_reset")
    confirm = load_handler("password_reset_confirm")
    run = env.run
    known = [f"bench.reset.{run}.{index}@example.com" for index in range(rounds + 3)]
    for email in known:
        project.create_user_with_reset_code(email, PASSWORD, "00000000")

    def body_event(name: str, body: dict[str, str]) -> dict[str, Any]:
        return event(name, body=json.dumps(body))

    def requested(email: str) -> None:
        answer = request(body_event("password_reset", {"email": email}), Context("password_reset"))
        assert (answer["statusCode"], answer["body"]) == (200, "{}"), answer

    def login_refused(email: str) -> None:
        answer = login(body_event("login", {"email": email, "password": "wrong guess 1"}), Context("login"))
        assert answer["statusCode"] == 403, answer

    def refused(email: str) -> None:
        body = {"email": email, "code": "12345678", "new_password": PASSWORD}
        answer = confirm(body_event("password_reset_confirm", body), Context("password_reset_confirm"))
        assert answer["statusCode"] == 403, answer

    with quiet_stdout(), project.lambda_endpoint():
        unknown_login, wrong_password = paired(
            lambda index: login_refused(f"bench.nobody.{run}.{index}@example.com"),
            lambda index: login_refused(known[index]),
            rounds,
        )
        unknown_request, known_request = paired(
            lambda index: requested(f"bench.nobody.{run}.{index}@example.com"),
            lambda index: requested(known[index]),
            rounds,
        )
        unknown_confirm, wrong_code = paired(
            lambda index: refused(f"bench.nobody.{run}.{index}@example.com"),
            lambda index: refused(known[index]),
            rounds,
        )
    for measure, subject, floor in (
        ("login: unknown email / wrong password", unknown_login, wrong_password),
        ("password reset request: unknown email / known", unknown_request, known_request),
        ("reset confirm: no pending code / wrong code", unknown_confirm, wrong_code),
    ):
        ratio = subject.median / floor.median
        results.rows.append(
            Row(
                measure,
                subject.median,
                subject.p95,
                floor.median,
                check=0.8 <= ratio <= 1.25,
                note="within 20% both ways",
            )
        )


def lifecycle(env: Environment, results: Results, rounds: int) -> None:
    """The lifecycle routes' warm calls, for the sizing table (reference: no floor). Each call has a
    user of its own, with a session to log out of, a password to change and a code to confirm."""
    count = rounds + 3  # the first three calls warm each handler up, untimed
    emails = [f"bench.lifecycle.{env.run}.{index}@example.com" for index in range(count)]
    users = [project.create_user_with_reset_code(email, PASSWORD, "24681357") for email in emails]

    def authorized(name: str, index: int, body: dict[str, str]) -> dict[str, Any]:
        document = event(name, body=json.dumps(body))
        user_id, session_id = users[index], project.start_session(users[index])
        document["requestContext"]["authorizer"] = {
            "principalId": str(user_id),
            "userId": str(user_id),
            "sessionId": session_id,
            "extras": "{}",
        }
        return document

    change = {"current_password": PASSWORD, "new_password": PASSWORD + "-2"}
    confirm = {"code": "24681357", "new_password": PASSWORD}
    # In this order: a password change ends the user's other sessions (logout's are spent by
    # then), a confirmation ends them all, and the mailer replaces the code the confirmation uses.
    events: dict[str, list[Any]] = {
        "logout": [authorized("logout", index, {"scope": "local"}) for index in range(count)],
        "password": [authorized("password", index, change) for index in range(count)],
        "password_reset_confirm": [
            event("password_reset_confirm", body=json.dumps({"email": email, **confirm})) for email in emails
        ],
        "password_reset": [event("password_reset", body=json.dumps({"email": email})) for email in emails],
        # Lambda's event from the hand-over: the email and the request's id, one request each.
        "password_reset_mailer": [{"email": email, "request_id": uuid.uuid4().hex} for email in emails],
    }
    with quiet_stdout(), project.lambda_endpoint():
        for name, calls in events.items():
            handler = load_handler(name)

            def call(index: int, name: str = name, handler: Handler = handler, calls: list[Any] = calls) -> None:
                answer = handler(calls[index], Context(name))
                assert answer is None or answer["statusCode"] == 200, (name, answer)  # the mailer answers nothing

            for index in range(3):
                call(index)
            samples = series(functools.partial(_shifted, call, 3), rounds)
            results.warm[name] = samples
            results.rows.append(Row(f"{name.replace('_', ' ')}, warm", samples.median, samples.p95))


def _shifted(call: Callable[[int], None], offset: int, index: int) -> None:
    call(index + offset)
