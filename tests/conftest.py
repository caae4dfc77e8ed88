"""What every test shares: the layer's settings, real event shapes, and (for the tests that ask
for it) an embedded DynamoDB on loopback.

Unit tests use none of the AWS stand-ins: the embedded DynamoDB starts, and the local
tooling it comes from is imported, only when a test asks for `stack` (every integration
test does; see tests/integration/conftest.py).
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jwcrypto import jwk

from lambda_auth import tokens
from lambda_auth.keys import new_key

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
TABLE_NAME = "lambda-auth-test"

# Settings every test process shares, set before any test imports the layer; the stack
# fixture writes the key file and starts the store.
KEYS_DIR = Path(tempfile.mkdtemp(prefix="lambda-auth-test-keys-"))
NO_ENDPOINT = "http://127.0.0.1:9"  # the discard port: a call to an AWS service not started here fails, and stays here
os.environ.update(
    {
        "AUTH_TABLE_NAME": TABLE_NAME,
        "AUTH_JWKS_FILE": str(KEYS_DIR / "jwks.json"),
        "AUTH_MAIL_OUTBOX": str(KEYS_DIR / "outbox.jsonl"),
        "AUTH_RESET_MAILER": "PasswordResetMailerFunction",
        "AUTH_SESSION_CHECK_SECONDS": "0",  # a session ended is refused at once, as on the local server
        "AWS_ENDPOINT_URL_LAMBDA": NO_ENDPOINT,
        "AWS_ENDPOINT_URL_SESV2": NO_ENDPOINT,
        "POWERTOOLS_SERVICE_NAME": "lambda-auth",
        "POWERTOOLS_METRICS_NAMESPACE": "LambdaAuthTest",
        "POWERTOOLS_DEV": "false",
    }
)


@dataclass(frozen=True)
class LocalStack:
    endpoint_url: str
    table_name: str
    jwks_path: Path


@pytest.fixture(scope="session", autouse=True)
def key_file() -> Iterator[Path]:
    """The session's JWK Set file (AUTH_JWKS_FILE), with one fresh key."""
    path = Path(os.environ["AUTH_JWKS_FILE"])
    path.write_text(json.dumps({"keys": [new_key("test-1")]}))
    try:
        yield path
    finally:
        shutil.rmtree(KEYS_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(key_file: Path) -> Iterator[LocalStack]:
    """moto's server (DynamoDB, Secrets Manager, CloudFormation) on 127.0.0.1, with the table from template.yaml.

    It is `lambda-auth serve`'s embedded DynamoDB, one request at a time as DynamoDB
    applies each atomically; the session's AWS clients and the layer's store point at it.
    """
    from lambda_auth_cli import local_aws

    with local_aws.embedded_dynamodb() as embedded:
        local_aws.use_endpoint(embedded.endpoint_url, TABLE_NAME, embedded.credentials)
        local_aws.ensure_table(TABLE_NAME)
        yield LocalStack(endpoint_url=embedded.endpoint_url, table_name=TABLE_NAME, jwks_path=key_file)


def event(name: str, source_ip: str | None = None, **changes: Any) -> dict[str, Any]:
    """A copy of events/<name>.json with top-level fields replaced; `body` may be any JSON value.

    Each event comes from a client address of its own unless `source_ip` is given, so
    the per-IP limits count only what a test means them to.
    """
    document = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))
    if "body" in changes and not isinstance(changes["body"], str | type(None)):
        changes["body"] = json.dumps(changes["body"])
    document.update(changes)
    document["requestContext"]["requestId"] = str(uuid.uuid4())
    document["requestContext"]["identity"]["sourceIp"] = source_ip or random_ip()
    return document


def random_ip() -> str:
    """An address in 198.18.0.0/15, the range set aside for tests."""
    return f"198.{random.randint(18, 19)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
def decryptions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token `tokens` decrypted during the test, in order (a cache hit decrypts none)."""
    seen: list[str] = []
    real: Callable[[str, jwk.JWK], object] = tokens._decrypt

    def counting(token: str, key: jwk.JWK) -> object:
        seen.append(token)
        return real(token, key)

    monkeypatch.setattr(tokens, "_decrypt", counting)
    return seen


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}@example.com"


def reset_code_in(text: str) -> str:
    """The 8-digit password-reset code a mail's text carries."""
    match = re.search(r"\b(\d{8})\b", text)
    assert match, text
    return match.group(1)


def awaited_reset_code(mails: Callable[[], list[dict[str, str]]], email: str, timeout: float = 20.0) -> str:
    """The code of the latest mail to `email` among `mails()`, polled until the mailer (run asynchronously) sent it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        to_email = [message for message in mails() if message["to"] == email]
        if to_email:
            return reset_code_in(to_email[-1]["text"])
        time.sleep(0.05)
    pytest.fail(f"no reset mail to {email} within {timeout} s")
