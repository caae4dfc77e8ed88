"""`make bench`: every route measured against the floor of its unavoidable work, in one run.

It starts moto's server (DynamoDB and Secrets Manager) in a process of its own, times
each route and its floor in alternation on this machine, prints one table (median, p95,
the floor, their ratio, and whether the goal holds), the throughput of `lambda-auth
serve` for /auth/me, and the sizing estimates for the memory sizes in template.yaml.
It exits with status 1 when a goal is not met.

Floors:
- authorizer, cold: a fresh interpreter that only imports `jwcrypto.jwe`;
- authorizer, warm, unseen token: jwcrypto's own decryption of the same token with the
  same key (`JWE()`, `deserialize(token, key)`, `payload`);
- authorizer, warm, seen token: an absolute 10 µs;
- /auth/me: one bare GetItem (boto3, consistent read) of the same item on the same endpoint;
- login: argon2 verification with the same parameters, plus the DynamoDB calls a
  successful login makes, with boto3: the two attempt counters counted (UpdateItem), the
  credentials read (GetItem), the email's counter cleared (DeleteItem) and the address's
  attempt taken back (UpdateItem);
- signup: argon2 hashing with the same parameters, plus the two UpdateItems and the
  TransactWriteItems that signup makes, with boto3.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import math
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from . import cold, load, servers
from .timing import Samples, duration, markdown_table, paired, repeated, series

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"
TABLE = "lambda-auth-bench"
REGION = "us-east-1"
SOURCE_IP = "198.18.0.1"  # one client address for every request, so each route's calls are the same every time
PASSWORD = "correct horse 42"  # noqa: S105 - the bench users' password

# Lambda's prices for arm64 in us-east-1, and the CPU it gives per MB of memory.
PRICE_PER_GB_SECOND = 0.0000133334
PRICE_PER_MILLION_REQUESTS = 0.20
API_GATEWAY_REST_PER_MILLION = 3.50
MB_PER_VCPU = 1769  # at 1,769 MB a function has one full vCPU; below, a proportional share
OTHER_SIZES_MB = (256, 512, 1024, 1769, 3008)

# What each function must not import: libraries and modules of the other routes.
UNUSED_BY = {
    "authorizer": (
        "boto3",
        "botocore",
        "pynamodb",
        "aws_xray_sdk",
        "aws_lambda_powertools",
        "argon2",
        "lambda_auth.store",
        "lambda_auth.auth",
        "lambda_auth.profiles",
        "lambda_auth.limits",
        "lambda_auth.passwords",
        "lambda_auth.api",
        "lambda_auth.secretsmanager",  # keys from a file here; in AWS the authorizer uses it
    ),
    "me": (
        "boto3",
        "argon2",
        "jwcrypto",
        "cryptography",
        "lambda_auth.auth",
        "lambda_auth.passwords",
        "lambda_auth.tokens",
        "lambda_auth.keys",
        "lambda_auth.limits",
        "lambda_auth.authorizer",
        "lambda_auth.secretsmanager",
    ),
    "login": ("boto3", "lambda_auth.profiles", "lambda_auth.authorizer", "lambda_auth.secretsmanager"),
    "signup": ("boto3", "lambda_auth.profiles", "lambda_auth.authorizer", "lambda_auth.secretsmanager"),
}


@dataclass(frozen=True)
class Row:
    """One line of the table; `limit` is None for a row measured for reference only."""

    measure: str
    median: float | None = None
    p95: float | None = None
    floor: float | None = None
    limit: float | None = None  # the largest ratio allowed, or for an absolute goal the largest median
    absolute: bool = False
    note: str = ""
    check: bool | None = None  # a goal that is a fact, not a time: whether it holds

    @property
    def ratio(self) -> float | None:
        if self.median is None or self.floor is None:
            return None
        return self.median / self.floor

    @property
    def met(self) -> bool | None:
        if self.check is not None:
            return self.check
        if self.limit is None:
            return None
        if self.absolute:
            return self.median is not None and self.median <= self.limit
        return self.ratio is not None and self.ratio <= self.limit

    def cells(self) -> list[str]:
        def shown(value: float | None) -> str:
            return duration(value) if value is not None else "—"

        if self.check is not None:
            goal = "holds"
        elif self.absolute and self.limit is not None:
            goal = f"≤ {duration(self.limit)}"
        elif self.limit is not None:
            goal = f"≤ {self.limit:g}x"
        else:
            goal = "reference"
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "—"
        met = {True: "yes", False: "NO", None: "—"}[self.met]
        return [self.measure, shown(self.median), shown(self.p95), shown(self.floor), ratio, goal, met, self.note]


@dataclass
class Context:
    """The attributes of Lambda's context object that the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _event(name: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    document.update(changes)
    document["requestContext"].setdefault("identity", {})["sourceIp"] = SOURCE_IP
    return document


def _load_handler(name: str) -> Callable[[dict[str, Any], Any], Any]:
    """functions/<name>/app.py under a name of its own, as Lambda keeps functions apart."""
    spec = importlib.util.spec_from_file_location(f"bench_function_{name}", FUNCTIONS / name / "app.py")
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], Any] = module.lambda_handler
    return handler


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: the functions' log lines cost what they cost, unseen."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(sink)


def _status(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Bench:
    """The environment the functions run in, and each measurement."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.key_file = workdir / "jwks.json"
        self.function_env = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AUTH_TABLE_NAME": TABLE,
            "AUTH_JWKS_FILE": str(self.key_file),
            # One client address makes every request: its limits must not refuse the bench.
            "AUTH_SIGNUP_MAX_PER_IP": "100000000",
            "AUTH_LOGIN_MAX_FAILURES_PER_IP": "100000000",
            "POWERTOOLS_SERVICE_NAME": "lambda-auth",
            "POWERTOOLS_METRICS_NAMESPACE": "LambdaAuthBench",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
            # X-Ray's daemon exists only in Lambda; outside it the tracer records nothing.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        self.sizing: dict[str, Samples] = {}
        self.libraries: dict[str, list[str]] = {}
        self.cold: dict[str, Samples] = {}

    def prepare(self) -> None:
        """The key file, the table, and this process's environment, before the layer is imported."""
        from lambda_auth.keys import new_key
        from lambda_auth_cli import local_aws

        self.key_file.write_text(json.dumps({"keys": [new_key("bench")]}))
        os.environ.update(self.function_env)
        local_aws.ensure_table(TABLE, self.endpoint)

    # Cold starts

    def authorizer_cold(self, rounds: int) -> list[Row]:
        from lambda_auth import keys, tokens

        token = tokens.issue(keys.current_store().get(), 42, 3600)
        event = _event("authorizer", headers={"Authorization": f"Bearer {token}"})
        env = cold.environment(self.function_env)
        subject, floor = paired(
            lambda _: cold.run_handler(FUNCTIONS / "authorizer", event, env),
            lambda _: cold.run_program(cold.JWE_IMPORT_PROGRAM, env),
            rounds,
            warmup=1,
        )
        self.cold["authorizer"] = subject
        rows = [
            Row(
                "authorizer, cold: import + first request (keys from a file)",
                subject.median,
                subject.p95,
                floor.median,
                1.5,
            )
        ]
        secret_env = self._secret_environment(env)
        secret = series(lambda _: cold.run_handler(FUNCTIONS / "authorizer", event, secret_env), max(3, rounds // 2))
        rows.append(
            Row(
                "authorizer, cold: keys from Secrets Manager (moto)",
                secret.median,
                secret.p95,
                floor.median,
                note="stdlib SigV4 client, one HTTP call",
            )
        )
        return rows

    def _secret_environment(self, env: dict[str, str]) -> dict[str, str]:
        import boto3

        client = boto3.client("secretsmanager", endpoint_url=self.endpoint, region_name=REGION)
        arn = client.create_secret(Name=f"bench-keys-{uuid.uuid4().hex[:8]}", SecretString=self.key_file.read_text())
        secret_env = {name: value for name, value in env.items() if name != "AUTH_JWKS_FILE"}
        secret_env.update({"AUTH_JWKS_SECRET_ARN": arn["ARN"], "AWS_ENDPOINT_URL_SECRETSMANAGER": self.endpoint})
        return secret_env

    def import_hygiene(self, events: dict[str, dict[str, Any]]) -> list[Row]:
        env = cold.environment(self.function_env)
        rows = []
        for name, unused in UNUSED_BY.items():
            modules = cold.imported_modules(FUNCTIONS / name, events[name], env)
            offenders = cold.offending(modules, unused)
            self.libraries[name] = cold.libraries(modules)
            note = "checked with -X importtime" if not offenders else f"UNUSED: {', '.join(offenders[:6])}"
            rows.append(Row(f"{name}, cold: imports nothing its route does not use", note=note, check=not offenders))
        return rows

    def http_cold(self, events: dict[str, Callable[[int], dict[str, Any]]], runs: int) -> list[Row]:
        env = cold.environment(self.function_env)
        rows = []
        for name in ("me", "login", "signup"):

            def start(index: int, name: str = name) -> float:
                return cold.run_handler(FUNCTIONS / name, events[name](index), env)

            samples = series(start, runs)
            self.cold[name] = samples
            rows.append(Row(f"{name}, cold: import + first request", samples.median, samples.p95))
        return rows

    # Warm paths, in this process

    def authorizer_warm(self, tokens_count: int, hits: int) -> list[Row]:
        from jwcrypto import jwe

        from lambda_auth import keys, tokens

        handler = _load_handler("authorizer")
        context = Context("authorizer")
        key_set = keys.current_store().get()
        key = key_set.current
        issued = [tokens.issue(key_set, 1000 + index, 3600) for index in range(tokens_count + 3)]
        template = _event("authorizer")
        events = [{**template, "headers": {**template["headers"], "Authorization": f"Bearer {t}"}} for t in issued]

        def bare(index: int) -> object:
            decryption = jwe.JWE()
            decryption.deserialize(issued[index], key=key)
            return decryption.payload

        with _quiet_stdout():
            unseen, floor = paired(lambda index: handler(events[index], context), bare, tokens_count)
            seen_event = events[0]
            seen = repeated(lambda: handler(seen_event, context), hits)
        self.sizing["authorizer (token not seen)"] = unseen
        self.sizing["authorizer (token seen)"] = seen
        return [
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

    def me_warm(self, rounds: int) -> Row:
        import boto3

        from lambda_auth.store import users

        handler = _load_handler("me")
        context = Context("me")
        user = users.create_user(f"bench.me.{uuid.uuid4().hex[:8]}@example.com", "Ada", "-", int(time.time() * 1000))
        event = _event("me")
        event["requestContext"]["authorizer"] = {"principalId": str(user.id), "userId": str(user.id), "extras": "{}"}
        client = boto3.client("dynamodb", endpoint_url=self.endpoint, region_name=REGION)
        key = {"pk": {"S": f"user#{user.id}"}}

        def route(_: int) -> None:
            answer = handler(event, context)
            assert answer["statusCode"] == 200, answer

        with _quiet_stdout():
            subject, floor = paired(
                route, lambda _: client.get_item(TableName=TABLE, Key=key, ConsistentRead=True), rounds, warmup=20
            )
        self.sizing["me"] = subject
        return Row("/auth/me, warm", subject.median, subject.p95, floor.median, 1.3)

    def login_and_signup_warm(self, rounds: int) -> list[Row]:
        import argon2
        import boto3

        from lambda_auth import passwords

        login = _load_handler("login")
        signup = _load_handler("signup")
        client = boto3.client("dynamodb", endpoint_url=self.endpoint, region_name=REGION)
        # The floor's argon2: the parameters the layer's own hashes record.
        encoded = passwords.hash_password(PASSWORD)
        hasher = argon2.PasswordHasher.from_parameters(argon2.extract_parameters(encoded))
        run = uuid.uuid4().hex[:8]

        def body_event(name: str, body: dict[str, str]) -> dict[str, Any]:
            return _event(name, body=json.dumps(body))

        with _quiet_stdout():
            email = f"bench.login.{run}@example.com"
            assert (
                signup(body_event("signup", {"email": email, "password": PASSWORD}), Context("signup"))["statusCode"]
                == 200
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

            def login_floor(_: int) -> None:
                count_attempt(email_counter, "1", "#window_ends_at > :now")
                count_attempt(address_counter, "1", "#window_ends_at > :now")
                client.get_item(TableName=TABLE, Key={"pk": {"S": f"email#{email}"}}, ConsistentRead=True)
                hasher.verify(encoded, PASSWORD)
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

            signup_samples, signup_floor_samples = paired(signup_route, signup_floor, rounds)
        self.sizing["login"] = login_samples
        self.sizing["signup"] = signup_samples
        return [
            Row("login, warm", login_samples.median, login_samples.p95, login_floor_samples.median, 1.2),
            Row("signup, warm", signup_samples.median, signup_samples.p95, signup_floor_samples.median, 1.2),
        ]

    def throughput(self, seconds: float) -> Row:
        import http.client

        from lambda_auth_cli import template

        stage = template.parameter("StageName").default
        executable = Path(sys.executable).parent / "lambda-auth"
        server_env = {name: value for name, value in self.function_env.items() if name.startswith("AWS_")}
        with servers.local_api(executable, self.workdir / "serve-jwks.json", server_env) as port:
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
        return Row("lambda-auth serve, GET /auth/me under load", result.median, result.p95, note=note)


# Sizing


def _memory_sizes() -> dict[str, int]:
    from lambda_auth_cli import template

    document = template.load()
    default = int(document.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    sizes = {}
    for resource in document["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            code = str(resource["Properties"].get("CodeUri", "")).strip("/").rpartition("/")[2]
            sizes[code] = int(resource["Properties"].get("MemorySize", default))
    return sizes


def estimated_seconds(samples: Samples, memory_mb: int) -> float:
    """The measured median, its CPU part slowed to the share of a vCPU that `memory_mb` buys."""
    wall, cpu = samples.median, min(samples.cpu_median, samples.median)
    return cpu / min(1.0, memory_mb / MB_PER_VCPU) + (wall - cpu)


def cost_per_million(seconds: float, memory_mb: int) -> float:
    """Lambda's price for a million calls: requests, and GB-seconds billed by the started millisecond."""
    billed = math.ceil(seconds * 1000) / 1000
    return PRICE_PER_MILLION_REQUESTS + memory_mb / 1024 * billed * PRICE_PER_GB_SECOND * 1e6


def sizing_tables(sizing: dict[str, Samples], cold_starts: dict[str, Samples]) -> str:
    """What each route would take and cost in Lambda at its memory size, and at others."""
    memory = _memory_sizes()
    rows = []
    options = []
    for route, samples in sizing.items():
        function = route.split(" ")[0]
        mb = memory[function]
        seconds = estimated_seconds(samples, mb)
        started = cold_starts.get(function)
        rows.append(
            [
                route,
                f"{mb} MB",
                f"{min(1.0, mb / MB_PER_VCPU):.2f}",
                duration(samples.median),
                duration(min(samples.cpu_median, samples.median)),
                duration(seconds),
                f"{math.ceil(seconds * 1000)} ms",
                f"${cost_per_million(seconds, mb):.2f}",
                duration(estimated_seconds(started, mb)) if started else "—",
            ]
        )
        estimates = [(size, estimated_seconds(samples, size)) for size in OTHER_SIZES_MB]
        options.append([route, *(f"{duration(at)}, ${cost_per_million(at, size):.2f}" for size, at in estimates)])
    at_template = markdown_table(
        [
            "route",
            "memory",
            "vCPU",
            "median here",
            "of it CPU",
            "est. in Lambda",
            "billed",
            "Lambda $ per 1M calls",
            "cold start, est.",
        ],
        rows,
    )
    alternatives = markdown_table(
        ["route", *(f"{size} MB" for size in OTHER_SIZES_MB)],
        options,
    )
    cold_options = [
        [f"{function}, cold start", *(duration(estimated_seconds(samples, size)) for size in OTHER_SIZES_MB)]
        for function, samples in cold_starts.items()
    ]
    cold_alternatives = markdown_table(["function", *(f"{size} MB" for size in OTHER_SIZES_MB)], cold_options)
    prices = (
        f"arm64, ${PRICE_PER_GB_SECOND}/GB-s, ${PRICE_PER_MILLION_REQUESTS:.2f}/1M requests; "
        f"API Gateway REST adds ${API_GATEWAY_REST_PER_MILLION:.2f}/1M"
    )
    return (
        f"Sizing at template.yaml's memory sizes ({prices}):\n{at_template}\n\n"
        f"The same routes at other sizes (est. duration, Lambda $ per 1M calls):\n{alternatives}\n\n"
        f"Cold starts at each size (est.; CPU time scaled like the warm calls'):\n{cold_alternatives}"
    )


def _machine() -> str:
    return (
        f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def main() -> int:
    started = time.monotonic()
    _status("starting moto's server")
    with tempfile.TemporaryDirectory(prefix="lambda-auth-bench-") as workdir, servers.moto_server() as endpoint:
        bench = Bench(endpoint, Path(workdir))
        bench.prepare()
        from lambda_auth import keys, tokens
        from lambda_auth.store import users

        me_user = users.create_user(f"bench.cold.{uuid.uuid4().hex[:8]}@example.com", "Ada", "-", 0)
        token = tokens.issue(keys.current_store().get(), 42, 3600)
        cold_login_email = f"bench.cold-login.{uuid.uuid4().hex[:8]}@example.com"

        def me_event(_: int) -> dict[str, Any]:
            event = _event("me")
            event["requestContext"]["authorizer"] = {"principalId": str(me_user.id)}
            return event

        first_events: dict[str, Callable[[int], dict[str, Any]]] = {
            "me": me_event,
            "login": lambda _: _event("login", body=json.dumps({"email": cold_login_email, "password": PASSWORD})),
            "signup": lambda _: _event(
                "signup", body=json.dumps({"email": f"bench.cold.{uuid.uuid4().hex}@example.com", "password": PASSWORD})
            ),
            "authorizer": lambda _: _event("authorizer", headers={"Authorization": f"Bearer {token}"}),
        }
        rows: list[Row] = []
        _status("authorizer cold starts")
        rows += bench.authorizer_cold(rounds=15)
        _status("imports of each function")
        from lambda_auth import passwords

        users.create_user(cold_login_email, "Ada", passwords.hash_password(PASSWORD), 0)
        rows += bench.import_hygiene({name: make(0) for name, make in first_events.items()})
        _status("cold starts of me, login, signup")
        rows += bench.http_cold(first_events, runs=5)
        _status("authorizer, warm")
        rows += bench.authorizer_warm(tokens_count=2000, hits=20_000)
        _status("/auth/me, warm")
        rows.append(bench.me_warm(rounds=300))
        _status("login and signup, warm")
        rows += bench.login_and_signup_warm(rounds=30)
        _status("lambda-auth serve under load")
        rows.append(bench.throughput(seconds=5.0))
        sizing = sizing_tables(bench.sizing, bench.cold)
    ordered = sorted(rows, key=lambda row: row.limit is None)  # goals first, references after
    print(f"lambda-auth bench, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {_machine()}")
    print()
    print(
        markdown_table(
            ["measure", "median", "p95", "floor", "ratio", "goal", "met", "note"], [r.cells() for r in ordered]
        )
    )
    print()
    print("Libraries each function imports at cold start (python -X importtime, installed packages only):")
    for name, libraries in bench.libraries.items():
        print(f"- {name}: {', '.join(libraries)}")
    print()
    print(sizing)
    failed = [row.measure for row in rows if row.met is False]
    print()
    print(
        f"{len(rows) - len(failed)} of {len(rows)} rows met or for reference; took {time.monotonic() - started:.0f} s."
    )
    if failed:
        print("NOT MET: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
