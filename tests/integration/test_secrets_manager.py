"""The token keys read from Secrets Manager without boto3: the standard-library client against
moto's server, with moto checking every request's Signature Version 4 against IAM."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

from lambda_auth import secretsmanager, settings, tokens
from lambda_auth.keys import KeySetError, KeyStore, new_key, parse_key_set
from lambda_auth.secretsmanager import SecretsManagerError
from lambda_auth.settings import KeySettings
from tests.conftest import ROOT

REGION = "us-east-1"


@dataclass(frozen=True)
class Secret:
    arn: str
    value: str
    env: dict[str, str]  # what a function's environment would hold to read it


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server of this module's own, on 127.0.0.1: its tests switch moto's signature checks on,
    with IAM users and keys of moto's, which the session's embedded DynamoDB (signed with its
    run's key only) would refuse."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def secret(moto_endpoint: str) -> Secret:
    """A JWK Set in a secret, and an IAM user of moto's allowed to read secrets and use DynamoDB."""
    value = json.dumps({"keys": [new_key("from-secret")]})
    name = f"lambda-auth-keys-{uuid.uuid4().hex[:8]}"
    arn = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION).create_secret(
        Name=name, SecretString=value
    )["ARN"]
    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name=REGION)
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="read-secrets",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["secretsmanager:GetSecretValue", "dynamodb:*"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    access_key = iam.create_access_key(UserName=name)["AccessKey"]
    env = {
        "AWS_ACCESS_KEY_ID": access_key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": access_key["SecretAccessKey"],
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SECRETSMANAGER": moto_endpoint,
    }
    return Secret(arn=str(arn), value=value, env=env)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """The layer reads its AWS settings (credentials, endpoints) afresh in each test, which may set
    the IAM user's, and forgets them after it."""
    settings.reset()
    yield
    settings.reset()


def _set_authentication(endpoint: str, unchecked_requests: str) -> str:
    # moto's own switch: after this many unchecked requests, every request's signature and
    # IAM permissions are checked. It returns the previous setting.
    request = urllib.request.Request(  # noqa: S310 - loopback moto
        f"{endpoint}/moto-api/reset-auth",
        data=unchecked_requests.encode(),
        headers={"Content-Type": "text/plain"},  # not a form, which the server would parse away
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback moto
        return str(json.loads(response.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])


@pytest.fixture
def signatures_checked(moto_endpoint: str, secret: Secret) -> Iterator[None]:
    """moto checks signatures and permissions for the length of one test."""
    previous = _set_authentication(moto_endpoint, "0")
    try:
        yield
    finally:
        _set_authentication(moto_endpoint, previous)


@pytest.mark.usefixtures("signatures_checked")
def test_the_client_reads_the_secret_from_moto_which_checks_its_signature(secret: Secret) -> None:
    assert secretsmanager.get_secret_string(secret.arn, secret.env) == secret.value


@pytest.mark.usefixtures("signatures_checked")
def test_a_request_signed_with_another_secret_key_is_refused_and_the_error_names_the_secret(secret: Secret) -> None:
    env = {**secret.env, "AWS_SECRET_ACCESS_KEY": "not-the-secret-key"}
    with pytest.raises(SecretsManagerError) as refusal:
        secretsmanager.get_secret_string(secret.arn, env)
    assert secret.arn in str(refusal.value)
    assert "HTTP 403, SignatureDoesNotMatch" in str(refusal.value)


def test_a_missing_secret_is_named_in_the_error(secret: Secret) -> None:
    missing = secret.arn.rpartition(":")[0] + ":no-such-secret"
    with pytest.raises(SecretsManagerError) as refusal:
        secretsmanager.get_secret_string(missing, secret.env)
    assert missing in str(refusal.value)
    assert "ResourceNotFoundException" in str(refusal.value)


def test_an_unreachable_endpoint_fails_after_bounded_attempts_naming_the_secret(secret: Secret) -> None:
    with socket.socket() as unused:  # bound, never listening: every connection is refused at once
        unused.bind(("127.0.0.1", 0))
        env = {**secret.env, "AWS_ENDPOINT_URL_SECRETSMANAGER": f"http://127.0.0.1:{unused.getsockname()[1]}"}
        with pytest.raises(SecretsManagerError) as failure:
            secretsmanager.get_secret_string(secret.arn, env, timeout=1.0, attempts=2)
    assert secret.arn in str(failure.value)
    assert "ConnectionRefusedError" in str(failure.value)


def test_an_answer_that_trickles_in_is_cut_off_at_the_deadline(secret: Secret) -> None:
    # Each byte comes well within the socket timeout, so only an overall deadline stops it.
    with trickling_server(interval=0.2) as port:
        env = {**secret.env, "AWS_ENDPOINT_URL_SECRETSMANAGER": f"http://127.0.0.1:{port}"}
        started = time.monotonic()
        with pytest.raises(SecretsManagerError) as failure:
            secretsmanager.get_secret_string(secret.arn, env, deadline_seconds=2.0)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"the read took {elapsed:.1f} s"
    assert "within 2 s" in str(failure.value) and secret.arn in str(failure.value)


def test_reading_the_secret_logs_nothing_of_its_value(
    secret: Secret, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    assert secretsmanager.get_secret_string(secret.arn, secret.env) == secret.value
    output = capfd.readouterr()
    key = json.loads(secret.value)["keys"][0]["k"]
    assert key not in caplog.text + output.out + output.err


@pytest.mark.usefixtures("signatures_checked")
def test_the_key_store_loads_the_stack_s_secret(secret: Secret, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in secret.env.items():
        monkeypatch.setenv(name, value)
    settings = KeySettings.from_environment({"AUTH_JWKS_SECRET_ARN": secret.arn})
    keys = KeyStore.from_settings(settings).get()
    assert keys.current_kid == "from-secret"
    assert keys.by_kid["from-secret"].get("k") == parse_key_set(secret.value).current.get("k")


def test_the_key_store_names_a_secret_it_cannot_read(secret: Secret, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in secret.env.items():
        monkeypatch.setenv(name, value)
    missing = secret.arn.rpartition(":")[0] + ":no-such-secret"
    settings = KeySettings.from_environment({"AUTH_JWKS_SECRET_ARN": missing})
    with pytest.raises(KeySetError, match=missing.replace(":", r"\:")):
        KeyStore.from_settings(settings).get()


@contextlib.contextmanager
def trickling_server(interval: float) -> Iterator[int]:
    """A server on 127.0.0.1 that answers every request with a response that never ends, a byte at a time."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.wait(interval):
                try:
                    connection.sendall(b"{")
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


# The authorizer's whole cold start, in a fresh process as Lambda runs it

_COLD_START = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
class Context:
    function_name = "authorizer"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:authorizer"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
event = json.loads(sys.argv[2])
policy = app.lambda_handler(event, Context())
print(json.dumps({
    "principal": policy["principalId"],
    "modules": sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[3].split(",")),
}))
"""

_NEVER_IN_THE_AUTHORIZER = ("boto3", "botocore", "pynamodb", "aws_xray_sdk", "aws_lambda_powertools", "argon2")


@pytest.mark.usefixtures("signatures_checked")
def test_the_authorizer_answers_its_first_request_with_keys_from_the_secret_and_no_aws_sdk(
    secret: Secret, moto_endpoint: str
) -> None:
    # The token's session, live in the table the authorizer reads it from (as signup writes it).
    table = f"users-{uuid.uuid4().hex[:8]}"
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=secret.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret.env["AWS_SECRET_ACCESS_KEY"],
    )
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    session = {"created_at": {"N": "1"}, "expires_at": {"N": str(2**40)}}
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "sessions#42"}, "sessions": {"M": {"s1": {"M": session}}}})
    keys = parse_key_set(secret.value)
    event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    event["headers"]["Authorization"] = f"Bearer {tokens.issue(keys, 42, 3600, session_id='s1')}"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "AUTH_", "POWERTOOLS_", "PYTEST", "COV_"))
    }
    env.update(secret.env)
    env.update(
        {"AUTH_TABLE_NAME": table, "AUTH_JWKS_SECRET_ARN": secret.arn, "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}
    )
    env["PYTHONPATH"] = str(ROOT / "layers" / "auth")  # where Lambda's /opt/python would be
    answer = subprocess.run(  # noqa: S603 - this interpreter, this repository's code
        [
            sys.executable,
            "-c",
            _COLD_START,
            str(ROOT / "functions" / "authorizer"),
            json.dumps(event),
            ",".join(_NEVER_IN_THE_AUTHORIZER),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(answer.stdout.splitlines()[-1])
    assert result == {"principal": "42", "modules": []}
