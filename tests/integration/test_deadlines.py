"""A DynamoDB that hangs without erroring cannot run a request into the function's timeout.

Login makes up to five DynamoDB calls, each bounded (0.5 s to connect, 1 s to read, three
attempts): alone they could take 20 s and more. Each request has a deadline instead, one
second short of the time Lambda gives the invocation, and answers 500 ERROR_FATAL at it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, event

# A fresh interpreter, as Lambda starts one: the login function's handler with a context
# that gives it `remaining_ms`; it prints its answer and how long it took.
PROGRAM = """
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
class Context:
    function_name = "login"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:login"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    def get_remaining_time_in_millis(self):
        return int(sys.argv[4])
started = time.monotonic()
answer = app.lambda_handler(json.loads(sys.argv[3]), Context())
print(json.dumps({"answer": answer, "seconds": time.monotonic() - started}))
"""


@pytest.fixture
def hanging_dynamodb() -> Iterator[str]:
    """An endpoint on 127.0.0.1 that accepts every connection and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for connection in held:
            connection.close()


def test_login_against_a_hanging_dynamodb_answers_500_before_the_function_times_out(
    hanging_dynamodb: str, key_file: object
) -> None:
    body = {"email": "ada@example.com", "password": "correct horse 42"}
    environment = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": hanging_dynamodb,
        "AUTH_TABLE_NAME": "users",
        "AUTH_JWKS_FILE": str(key_file),
        "POWERTOOLS_METRICS_NAMESPACE": "LambdaAuthTest",
    }
    started = time.monotonic()
    finished = subprocess.run(  # noqa: S603 - this interpreter, this repository's handler
        [
            sys.executable,
            "-c",
            PROGRAM,
            str(ROOT / "functions" / "login"),
            str(ROOT / "layers" / "auth"),
            json.dumps(event("login", body=body)),
            "2500",  # the invocation has 2.5 s left: one read timeout and its retry are too many
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["answer"]["statusCode"] == 500
    assert json.loads(result["answer"]["body"])["code"] == "ERROR_FATAL"
    # One second is kept back to answer: the request ends within 1.5 s (and a little for the answer).
    assert result["seconds"] <= 1.5 + 0.3, f"the request took {result['seconds']:.1f} s of its 2.5"
    assert time.monotonic() - started < 30
