"""Cold starts, each a fresh interpreter from spawn to exit: import and first request.

The goals are the artifact's, as Lambda runs it (`lambda_auth_cli.artifact`): python3.13,
only the function's folder and the layer on the path, no bytecode written, with the
variables Lambda sets. Each route is timed in alternation with a floor run the same way
from the same artifact:
- authorizer: a fresh interpreter that imports `jwcrypto.jwe` and reads the token's session
  with one DynamoDB GetItem over http.client, ≤ 1.5x;
- me, login, signup: a fresh interpreter that imports only the libraries the route must
  use (PynamoDB, Powertools' Logger and Metrics; argon2 and jwcrypto for login and signup)
  and makes the route's first DynamoDB call the same way (login and signup: and the
  session's write, which revocation requires of them), ≤ 1.3x.
The keys come from a file, so that a ratio measures the function's own work; the
authorizer is also measured with the keys from Secrets Manager, as deployed, for
reference: one HTTP call to moto's server on loopback. The development environment's
cold starts (bytecode cached) are measured beside them for reference.
"""

from __future__ import annotations

from . import cold
from .environment import FUNCTIONS, LOGICAL_IDS, Environment
from .report import Results, Row
from .timing import paired, series

AUTHORIZER_LIMIT = 1.5
HTTP_LIMIT = 1.3

# What each function must not import: libraries and modules of the other routes.
UNUSED_BY = {
    "authorizer": (
        "boto3",
        "botocore",
        "pynamodb",
        "aws_xray_sdk",
        "aws_lambda_powertools",
        "argon2",
        # Of the store, only `layout` (the keys, no library): the session check reads one item.
        "lambda_auth.store.table",
        "lambda_auth.store.users",
        "lambda_auth.store.attempts",
        "lambda_auth.store.sessions",
        "lambda_auth.store.resets",
        "lambda_auth.auth",
        "lambda_auth.signin",
        "lambda_auth.profiles",
        "lambda_auth.limits",
        "lambda_auth.passwords",
        "lambda_auth.api",
        "lambda_auth.secretsmanager",  # keys from a file here; in AWS the authorizer uses it
    ),
    "me": (
        "boto3",
        "aws_xray_sdk",
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
    "login": ("boto3", "aws_xray_sdk", "lambda_auth.profiles", "lambda_auth.authorizer"),
    "signup": ("boto3", "aws_xray_sdk", "lambda_auth.profiles", "lambda_auth.authorizer"),
}

# The HTTP routes' floor: their libraries imported, Powertools' logger and metrics built,
# and their first DynamoDB call made with PynamoDB, the same call with the same outcome,
# on an item of the floor's own.
HTTP_FLOOR_PROGRAM = """
import os, time
{imports}
from aws_lambda_powertools import Logger, Metrics
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model
Logger()
Metrics()
class Item(Model):
    class Meta:
        table_name = os.environ["AUTH_TABLE_NAME"]
    pk = UnicodeAttribute(hash_key=True)
    attempts = NumberAttribute(null=True)
    window_ends_at = NumberAttribute(null=True)
def count_attempt(key):
    Item(key).update(actions=[Item.attempts.add(1)], condition=Item.window_ends_at > int(time.time()))
{call}
"""
FIRST_CALL = {
    # me reads the profile.
    "me": "Item.get({key!r}, consistent_read=True)",
    # login counts an attempt for the email, whose counter the previous login cleared: the
    # conditional update fails, as it does for anyone without recent failures.
    "login": "try:\n    count_attempt({key!r})\nexcept UpdateError:\n    pass",
    # signup counts an attempt for the client's address, whose window is open.
    "signup": "count_attempt({key!r})",
}
# And the one write each of login and signup must make besides, for revocation: the new
# session recorded in the user's sessions item (one UpdateItem; login's in a transaction with a
# check that the credentials it verified are unchanged, as a sign-in must not outlive a password
# change that lands after its check).
SESSION_WRITE = {
    "signup": "\nItem({key!r} + '-session').update(actions=[Item.attempts.add(1)])",
    "login": (
        "\nfrom pynamodb.transactions import TransactWrite"
        "\nwith TransactWrite(connection=Item._get_connection().connection) as transaction:"  # the model's client
        "\n    transaction.condition_check(Item, {key!r} + '-credentials', condition=Item.pk.does_not_exist())"
        "\n    transaction.update(Item({key!r} + '-session'), actions=[Item.attempts.add(1)])"
    ),
}
ARGON2_AND_JWE_IMPORTS = "import argon2\nimport jwcrypto.jwe\nimport jwcrypto.jwk"
FLOOR_IMPORTS = {"me": "", "login": ARGON2_AND_JWE_IMPORTS, "signup": ARGON2_AND_JWE_IMPORTS}


def _artifact_start(env: Environment, name: str, variables: dict[str, str]) -> float:
    """One cold start of the artifact's function `name` answering its first request; its CPU seconds."""
    before = cold.children_cpu()
    answer = env.artifact.invoke(LOGICAL_IDS[name], env.first_event(name), cold.environment(variables), env.workdir)
    cpu = cold.children_cpu() - before
    allowed = [statement.get("Effect") for statement in answer.get("policyDocument", {}).get("Statement", [])]
    if not (allowed == ["Allow"] or answer.get("statusCode") == 200):
        raise RuntimeError(f"{name} answered {answer}")
    return cpu


def artifact_authorizer(env: Environment, results: Results, rounds: int) -> None:
    variables = env.lambda_env("authorizer")
    floor_command = env.artifact.program_command(cold.SESSION_READ_PROGRAM.format(key=env.token_session_key))
    subject, floor = paired(
        lambda _: _artifact_start(env, "authorizer", variables),
        lambda _: cold.run(floor_command, cold.environment(variables)),
        rounds,
        warmup=1,
    )
    results.cold["authorizer"] = subject
    results.rows.append(
        Row(
            "authorizer, cold (artifact): import + first request",
            subject.median,
            subject.p95,
            floor.median,
            AUTHORIZER_LIMIT,
        )
    )
    from_secret = env.secret_env(variables)
    secret, secret_floor = paired(
        lambda _: _artifact_start(env, "authorizer", from_secret),
        lambda _: cold.run(floor_command, cold.environment(from_secret)),
        max(3, rounds // 2),
        warmup=0,
    )
    results.rows.append(
        Row(
            "authorizer, cold (artifact): keys from Secrets Manager",
            secret.median,
            secret.p95,
            secret_floor.median,
            note="as deployed; stdlib SigV4 client, one HTTP call to moto",
        )
    )


def artifact_http(env: Environment, results: Results, rounds: int) -> None:
    floor_items = {"me": f"user#{env.me_user_id}", **env.floor_counters}
    for name in ("me", "login", "signup"):
        calls = FIRST_CALL[name] + SESSION_WRITE.get(name, "")
        program = HTTP_FLOOR_PROGRAM.format(imports=FLOOR_IMPORTS[name], call=calls.format(key=floor_items[name]))
        floor_command = env.artifact.program_command(program)
        variables = env.lambda_env(name)
        floor_env = cold.environment(variables)

        def start(_: int, name: str = name, variables: dict[str, str] = variables) -> float:
            return _artifact_start(env, name, variables)

        def start_floor(_: int, command: list[str] = floor_command, variables: dict[str, str] = floor_env) -> float:
            return cold.run(command, variables)

        subject, floor = paired(start, start_floor, rounds, warmup=1)
        results.cold[name] = subject
        results.rows.append(
            Row(
                f"{name}, cold (artifact): import + first request",
                subject.median,
                subject.p95,
                floor.median,
                HTTP_LIMIT,
                note="first DynamoDB call in both" + (", and the session's write" if name != "me" else ""),
            )
        )


def import_hygiene(env: Environment, results: Results) -> None:
    """Each of the artifact's functions imports nothing its route does not use (-X importtime)."""
    for name, unused in UNUSED_BY.items():
        answer_file = env.workdir / f"importtime-{name}.json"
        command = env.artifact.invoke_command(
            LOGICAL_IDS[name], env.first_event(name), answer_file, options=("-X", "importtime")
        )
        modules = cold.imported_modules(command, cold.environment(env.lambda_env(name)))
        answer_file.unlink()
        offenders = cold.offending(modules, unused)
        results.libraries[name] = cold.libraries(modules, env.artifact.layer)
        note = "checked with -X importtime" if not offenders else f"UNUSED: {', '.join(offenders[:6])}"
        results.rows.append(
            Row(f"{name}, cold (artifact): imports nothing its route does not use", note=note, check=not offenders)
        )


def venv(env: Environment, results: Results, authorizer_rounds: int, runs: int) -> None:
    """The development environment's cold starts, for reference: bytecode cached."""
    variables = cold.environment(env.function_env)
    authorizer_event = env.first_event("authorizer")
    subject, floor = paired(
        lambda _: cold.run(cold.venv_handler(FUNCTIONS / "authorizer", authorizer_event), variables),
        lambda _: cold.run(cold.venv_program(cold.SESSION_READ_PROGRAM.format(key=env.token_session_key)), variables),
        authorizer_rounds,
        warmup=1,
    )
    results.rows.append(
        Row("authorizer, cold (venv): import + first request", subject.median, subject.p95, floor.median)
    )
    secret_variables = cold.environment(env.secret_env(env.function_env))
    secret = series(
        lambda _: cold.run(cold.venv_handler(FUNCTIONS / "authorizer", authorizer_event), secret_variables), runs
    )
    results.rows.append(
        Row(
            "authorizer, cold (venv): keys from Secrets Manager",
            secret.median,
            secret.p95,
            floor.median,
            note="stdlib SigV4 client, one HTTP call",
        )
    )
    for name in ("me", "login", "signup"):

        def start(_: int, name: str = name) -> float:
            return cold.run(cold.venv_handler(FUNCTIONS / name, env.first_event(name)), variables)

        samples = series(start, runs)
        results.rows.append(Row(f"{name}, cold (venv): import + first request", samples.median, samples.p95))
