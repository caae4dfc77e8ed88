"""What an auth service owes its users beyond the happy path: no secrets in logs, no
half-written signups, passwords re-hashed as standards rise. (That an unknown email is
refused in a wrong password's time is measured by `make bench`, not timed here.)"""

from __future__ import annotations

import io
import json
import logging
import unicodedata
from typing import Any

import pytest
from argon2 import PasswordHasher
from pynamodb.exceptions import TransactWriteError

from lambda_auth import passwords
from lambda_auth.observability import logger
from lambda_auth.store import table, users
from tests.conftest import event, unique_email

PASSWORD = "correct horse 42"


def call(handlers: dict[str, Any], route: str, **changes: Any) -> dict[str, Any]:
    response: dict[str, Any] = handlers[route](event(route, **changes))
    return response


def signed_up(handlers: dict[str, Any], email: str | None = None) -> tuple[str, str]:
    email = email or unique_email()
    response = call(handlers, "signup", body={"name": "Ada", "email": email, "password": PASSWORD})
    assert response["statusCode"] == 200
    return email, json.loads(response["body"])["authToken"]


def test_no_log_line_holds_a_password_hash_or_token(
    handlers: dict[str, Any], capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Every line the functions log, formatted as in Lambda, plus any other library's records.
    lines = io.StringIO()
    capture = logging.StreamHandler(lines)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    logger.setLevel("DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        email, token = signed_up(handlers)
        login = call(handlers, "login", body={"email": email, "password": PASSWORD})
        login_token = json.loads(login["body"])["authToken"]
        call(handlers, "login", body={"email": email, "password": "wrong guess 1"})
        call(handlers, "signup", body={"email": email, "password": PASSWORD})
        call(handlers, "signup", body={"email": "not an email", "password": PASSWORD})
        for headers, query in (
            ({"Authorization": f"Bearer {token}"}, None),
            ({}, {"authtoken": login_token}),
            ({"Authorization": f"Bearer {token[:-3]}abc"}, None),
        ):
            handlers["authorizer"](event("authorizer", headers=headers, queryStringParameters=query))
        credentials = users.get_credentials(email)
        assert credentials is not None
    finally:
        logger.setLevel("INFO")
        logger._logger.removeHandler(capture)
    output = capfd.readouterr()
    logged = lines.getvalue() + caplog.text + output.out + output.err
    assert "user logged in" in logged and "request refused" in logged and "token refused" in logged
    for secret in (PASSWORD, credentials.password_hash, token, login_token, token.split(".")[3]):
        assert secret not in logged
    assert "$argon2" not in logged


def stored_hash(email: str, credentials: users.Credentials, password_hash: str) -> None:
    """Store `password_hash` in place of the hash of `credentials` (a hash made as an older version made it)."""
    with table.transaction() as transaction:
        users.replace_password_hash(transaction, email, credentials, password_hash)


def test_a_login_with_an_outdated_hash_rehashes_it(handlers: dict[str, Any]) -> None:
    email, _ = signed_up(handlers)
    credentials = users.get_credentials(email)
    assert credentials is not None
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    stored_hash(email, credentials, weak)
    assert passwords.needs_rehash(weak)
    assert call(handlers, "login", body={"email": email, "password": PASSWORD})["statusCode"] == 200
    renewed = users.get_credentials(email)
    assert renewed is not None and renewed.password_hash != weak
    assert not passwords.needs_rehash(renewed.password_hash)
    assert "m=19456,t=2,p=1" in renewed.password_hash
    assert call(handlers, "login", body={"email": email, "password": PASSWORD})["statusCode"] == 200


def test_a_password_signed_up_composed_logs_in_decomposed(handlers: dict[str, Any]) -> None:
    email = unique_email()
    composed, decomposed = "p\u00e4ssword 42", "pa\u0308ssword 42"
    assert call(handlers, "signup", body={"email": email, "password": composed})["statusCode"] == 200
    assert call(handlers, "login", body={"email": email, "password": decomposed})["statusCode"] == 200


def test_a_hash_of_a_password_as_typed_logs_in_and_is_made_again_in_normal_form(handlers: dict[str, Any]) -> None:
    # Hashes stored before passwords were normalised were made from the password as typed.
    email, _ = signed_up(handlers)
    credentials = users.get_credentials(email)
    assert credentials is not None
    decomposed = "pa\u0308ssword 42"
    stored_hash(email, credentials, PasswordHasher(memory_cost=19 * 1024).hash(decomposed))
    assert call(handlers, "login", body={"email": email, "password": decomposed})["statusCode"] == 200
    renewed = users.get_credentials(email)
    assert renewed is not None
    assert PasswordHasher().verify(renewed.password_hash, unicodedata.normalize("NFKC", decomposed))
    assert call(handlers, "login", body={"email": email, "password": "p\u00e4ssword 42"})["statusCode"] == 200


def test_a_signup_that_fails_part_way_leaves_no_user_and_no_locked_email(
    handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email()
    real_commit = users.TransactWrite._commit

    def failing_commit(self: Any) -> Any:
        raise TransactWriteError("Failed to commit transaction: InternalServerError")

    monkeypatch.setattr(users.TransactWrite, "_commit", failing_commit)
    failed = call(handlers, "signup", body={"email": email, "password": PASSWORD})
    assert failed["statusCode"] == 500
    assert json.loads(failed["body"])["code"] == "ERROR_FATAL"
    assert users.get_credentials(email) is None

    monkeypatch.setattr(users.TransactWrite, "_commit", real_commit)
    signed_up(handlers, email)
    assert users.get_credentials(email) is not None


def test_every_dynamodb_call_is_bounded_in_time() -> None:
    users.get_user(1)  # the models connect on first use
    for connection in (users.ProfileItem._get_connection().connection, table.connection()):
        config = connection.client.meta.config
        assert config.retries == {"mode": "legacy", "total_max_attempts": 3}
        assert config.connect_timeout == 0.5 and config.read_timeout == 1.0
