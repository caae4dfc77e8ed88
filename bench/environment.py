"""What the bench's functions run against: moto's endpoint, a key file, a table and its users,
the functions' environment, their first requests, and the artifact they are built into."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from lambda_auth_cli.artifact import Artifact

from . import project

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"
TABLE = "lambda-auth-bench"
REGION = "us-east-1"
SOURCE_IP = "198.18.0.1"  # one client address for every request, so each route's calls are the same every time
PASSWORD = "correct horse 42"  # noqa: S105 - the bench users' password

# Each function's folder under functions/ (and events/ file) and its logical id in template.yaml.
LOGICAL_IDS = {
    "authorizer": "AuthorizerFunction",
    "me": "MeFunction",
    "login": "LoginFunction",
    "signup": "SignupFunction",
    "logout": "LogoutFunction",
    "password": "PasswordChangeFunction",
    "password_reset": "PasswordResetFunction",
    "password_reset_mailer": "PasswordResetMailerFunction",
    "password_reset_confirm": "PasswordResetConfirmFunction",
}


def event(name: str, **changes: Any) -> dict[str, Any]:
    """events/<name>.json with top-level fields replaced, from the bench's one client address."""
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    document.update(changes)
    document["requestContext"].setdefault("identity", {})["sourceIp"] = SOURCE_IP
    return document


@dataclass
class Context:
    """The attributes of Lambda's context object that the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@contextmanager
def quiet_stdout() -> Iterator[None]:
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


def status(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Environment:
    """The functions' variables, data and first requests, on one moto endpoint."""

    def __init__(self, endpoint: str, workdir: Path, artifact: Artifact) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.artifact = artifact
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
            "AUTH_RESET_MAX_PER_IP": "100000000",
            "AUTH_RESET_MAILER": "PasswordResetMailerFunction",
            "AUTH_MAIL_OUTBOX": str(workdir / "outbox.jsonl"),  # the mailer's SES call, stood in for by a file
            "POWERTOOLS_SERVICE_NAME": "lambda-auth",
            "POWERTOOLS_METRICS_NAMESPACE": "LambdaAuthBench",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        }
        self.run = uuid.uuid4().hex[:8]
        self.me_user_id = 0
        self.token = ""
        self.token_session_key = ""
        self.cold_login_email = f"bench.cold-login.{self.run}@example.com"
        self.secret_arn = ""
        # The counters the login and signup cold-start floors count an attempt on: login's
        # does not exist (as the email's does not after a login), signup's window is open.
        self.floor_counters = {name: f"limit#bench-cold-floor-{name}#{self.run}" for name in ("login", "signup")}

    def prepare(self) -> None:
        """The key file, the table, the users the first requests need, and this process's environment."""
        project.write_key_file(self.key_file)
        os.environ.update(self.function_env)
        project.create_table(TABLE, self.endpoint)
        self.me_user_id = project.create_user(f"bench.cold.{self.run}@example.com", "-")
        cold_login_user = project.create_user(self.cold_login_email, project.hash_password(PASSWORD))
        project.start_session(cold_login_user)  # as signup leaves a user: with a session, which login adds to
        self.token = project.issue_token(42)
        self.token_session_key = project.session_key(42)["pk"]["S"]  # what the authorizer reads for it
        self.secret_arn = self._keys_secret()
        dynamodb = boto3.client("dynamodb", endpoint_url=self.endpoint, region_name=REGION)
        window_ends_at = str(int(time.time()) + 86400)
        key = self.floor_counters["signup"]
        item = {"pk": {"S": key}, "attempts": {"N": "0"}, "window_ends_at": {"N": window_ends_at}}
        dynamodb.put_item(TableName=TABLE, Item=item)

    def _keys_secret(self) -> str:
        """The key file's JWK Set in a Secrets Manager secret, as deployed; its ARN."""
        client = boto3.client("secretsmanager", endpoint_url=self.endpoint, region_name=REGION)
        secret = client.create_secret(Name=f"bench-keys-{self.run}", SecretString=self.key_file.read_text())
        return str(secret["ARN"])

    def secret_env(self, variables: dict[str, str]) -> dict[str, str]:
        """`variables` with the keys read from Secrets Manager, as deployed, instead of the file."""
        kept = {key: value for key, value in variables.items() if key != "AUTH_JWKS_FILE"}
        return {**kept, "AUTH_JWKS_SECRET_ARN": self.secret_arn, "AWS_ENDPOINT_URL_SECRETSMANAGER": self.endpoint}

    def lambda_env(self, name: str) -> dict[str, str]:
        """Function `name`'s variables, with those Lambda adds, for the artifact."""
        return {**self.function_env, **self.artifact.lambda_variables(LOGICAL_IDS[name])}

    def first_event(self, name: str) -> dict[str, Any]:
        """The request a fresh instance of function `name` answers: each the same, bar a new signup's email."""
        if name == "authorizer":
            return event("authorizer", headers={"Authorization": f"Bearer {self.token}"})
        if name == "me":
            document = event("me")
            document["requestContext"]["authorizer"] = {"principalId": str(self.me_user_id)}
            return document
        if name == "login":
            return event("login", body=json.dumps({"email": self.cold_login_email, "password": PASSWORD}))
        email = f"bench.cold.{uuid.uuid4().hex}@example.com"
        return event("signup", body=json.dumps({"email": email, "password": PASSWORD}))
