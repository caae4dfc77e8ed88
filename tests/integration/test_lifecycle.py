"""The account lifecycle in-process, against moto's DynamoDB: what HTTP cannot reach or time can
only reach slowly (expired codes, races with a logout or a newer code, the limits, what the
table holds), through the gateway emulation or the layer itself."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import lambda_auth
from lambda_auth import auth, keys, limits, mail, passwords, reset_request, settings, signin, tokens
from lambda_auth.store import resets, sessions, table, users
from lambda_auth_cli import lambda_runtime, local_aws, template
from lambda_auth_cli.server import lambda_endpoint
from tests.conftest import LocalStack, awaited_reset_code, event, random_ip, reset_code_in, unique_email
from tests.integration.conftest import Api, dynamodb_requests

PASSWORD = "correct horse 42"
NEW_PASSWORD = "a new horse 43"


def signup(api: Api, email: str) -> tuple[int, str]:
    status, answer, _ = api.post("signup", {"email": email, "password": PASSWORD})
    assert status == 200, answer
    token = answer["authToken"]
    return tokens.verify(keys.current_store().get(), token).user_id, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def me(api: Api, token: str) -> int:
    status, _ = api.me(headers={"Authorization": f"Bearer {token}"})
    return status


def logs_in(api: Api, email: str, password: str) -> bool:
    status, _, _ = api.post("login", {"email": email, "password": password})
    return status == 200


def confirm(api: Api, email: str, code: str, new_password: str = NEW_PASSWORD) -> tuple[int, Any]:
    status, answer, _ = api.post("password-reset/confirm", {"email": email, "code": code, "new_password": new_password})
    return status, answer


def outbox_mails() -> list[dict[str, str]]:
    """Every message in the session's outbox, oldest first."""
    outbox = Path(os.environ["AUTH_MAIL_OUTBOX"])
    return [json.loads(line) for line in outbox.read_text().splitlines() if line] if outbox.exists() else []


def mailed_code(email: str, timeout: float = 20.0) -> str:
    """The code of the latest mail to `email` in the session's outbox, once the mailer has run."""
    return awaited_reset_code(outbox_mails, email, timeout)


def mailed_codes(email: str) -> list[str]:
    """The codes of the mails to `email` in the session's outbox so far, oldest first."""
    return [reset_code_in(message["text"]) for message in outbox_mails() if message["to"] == email]


def pending_item(stack: LocalStack, email: str) -> dict[str, Any]:
    """The reset item of `email` as the table holds it."""
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
    raw = dynamodb.get_item(TableName=stack.table_name, Key={"pk": {"S": f"reset#{email}"}}, ConsistentRead=True)
    item: dict[str, Any] = raw["Item"]
    return item


def hand_over(email: str, request_id: str | None = None) -> dict[str, str]:
    """A reset request's event for the mailer, as `reset_request.hand_over` sends it."""
    return {"email": email, "request_id": request_id or uuid.uuid4().hex}


def test_a_reset_request_hands_over_to_the_mailer_which_stores_only_a_hash_of_the_code(
    api: Api, stack: LocalStack
) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    status, answer, _ = api.post("password-reset", {"email": email})
    assert (status, answer) == (200, {})
    code = mailed_code(email)
    item = pending_item(stack, email)
    assert code not in json.dumps(item)
    assert item["code_hash"]["S"].startswith("$argon2id$")
    assert int(item["user_id"]["N"]) == user_id and int(item["checks"]["N"]) == 0
    ttl = int(item["expires_at"]["N"]) - time.time()
    assert 900 - 60 < ttl <= 900  # AUTH_RESET_CODE_TTL_SECONDS' default, 15 minutes


def test_the_mailer_stores_and_sends_nothing_for_an_email_without_an_account(
    handlers: dict[str, Any],
) -> None:
    email = unique_email()
    assert handlers["password_reset_mailer"](hand_over(email)) is None
    assert resets.check(email, int(time.time())) is None
    outbox = Path(os.environ["AUTH_MAIL_OUTBOX"])
    assert email not in (outbox.read_text() if outbox.exists() else "")


def test_a_retried_mailing_mails_the_same_code_and_keeps_the_one_hash_stored(
    api: Api, handlers: dict[str, Any], stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda retries a failed mailing with the same event: the retry mails the code the first attempt
    stored, and leaves its hash and its checks as they are (a duplicate delivery too)."""
    email = unique_email()
    signup(api, email)
    retried = hand_over(email)
    send = mail.send

    def unsent(message: mail.Message) -> None:
        raise RuntimeError("SES is unavailable")

    monkeypatch.setattr(mail, "send", unsent)
    with pytest.raises(RuntimeError, match="SES is unavailable"):
        handlers["password_reset_mailer"](retried)
    monkeypatch.setattr(mail, "send", send)
    stored = pending_item(stack, email)
    assert mailed_codes(email) == []
    assert confirm(api, email, "00000000")[0] == 403  # one check counted
    for _ in range(2):  # the retry, and the same event delivered once more
        assert handlers["password_reset_mailer"](retried) is None
    first, second = mailed_codes(email)
    assert first == second
    item = pending_item(stack, email)
    assert item["code_hash"] == stored["code_hash"] and int(item["checks"]["N"]) == 1
    assert passwords.verify_password(item["code_hash"]["S"], first)
    assert confirm(api, email, first)[0] == 200


def test_two_reset_requests_mail_two_codes_and_only_the_newer_one_works(api: Api) -> None:
    email = unique_email()
    signup(api, email)
    assert api.post("password-reset", {"email": email})[:2] == (200, {})
    older = mailed_code(email)
    assert api.post("password-reset", {"email": email})[:2] == (200, {})
    deadline = time.monotonic() + 20
    while len(mailed_codes(email)) < 2 and time.monotonic() < deadline:  # the mailer runs after the answer
        time.sleep(0.05)
    _, newer = mailed_codes(email)
    assert newer != older
    assert confirm(api, email, older)[0] == 403
    assert confirm(api, email, newer)[0] == 200


def test_a_retry_of_a_request_that_a_newer_one_replaced_meanwhile_mails_nothing(
    api: Api, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry's code is stored, but a newer request replaces it before the retry reads what is pending."""
    email = unique_email()
    user_id, _ = signup(api, email)
    retried = hand_over(email)
    handlers["password_reset_mailer"](retried)
    (code,) = mailed_codes(email)
    get = resets.ResetItem.get

    def newer_request_meanwhile(*args: Any, **kwargs: Any) -> Any:
        resets.put(email, user_id, passwords.hash_password("97531864"), int(time.time()) + 900, "newer", "test-1")
        return get(*args, **kwargs)

    monkeypatch.setattr(resets.ResetItem, "get", newer_request_meanwhile)
    assert handlers["password_reset_mailer"](retried) is None
    monkeypatch.undo()
    assert mailed_codes(email) == [code]
    assert confirm(api, email, code)[0] == 403 and confirm(api, email, "97531864")[0] == 200


def test_a_mailer_without_a_sender_fails_at_import_by_name_and_the_request_still_answers_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The mailer as a fresh instance starts it, without AUTH_MAIL_SENDER (or a local outbox): its import
    fails naming the setting, logged, and the reset request, which has handed over, still answers {}."""
    email = unique_email()
    signup(api, email)
    monkeypatch.delenv("AUTH_MAIL_SENDER", raising=False)
    monkeypatch.delenv("AUTH_MAIL_OUTBOX")
    # A cold start: the handler and the layer's mailer are imported again.
    for name in [name for name in sys.modules if name.startswith("lambda_function_password_reset_mailer_")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "lambda_auth.reset_mail")
    monkeypatch.delattr(lambda_auth, "reset_mail")
    mailer = template.application().functions["PasswordResetMailerFunction"]
    invoke_api = local_aws.LambdaInvokeApi({"PasswordResetMailerFunction": lambda_runtime.LocalFunction(mailer)})
    caplog.set_level(logging.WARNING)
    try:
        with lambda_endpoint(invoke_api) as endpoint:
            monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", endpoint)
            settings.reset()
            assert api.post("password-reset", {"email": email})[:2] == (200, {})
        # Leaving the endpoint waited for the mailer's invocation, which failed to start.
    finally:
        monkeypatch.undo()
        settings.reset()
    messages = [record.getMessage() for record in caplog.records]
    failures = [message for message in messages if message.startswith("PasswordResetMailerFunction failed")]
    assert len(failures) == 1 and "SettingsError: AUTH_MAIL_SENDER is not set" in failures[0], failures
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert any(line.startswith("the password-reset mailer cannot start: AUTH_MAIL_SENDER") for line in errors), errors
    assert mailed_codes(email) == []


def test_an_expired_code_is_refused_like_a_wrong_one(api: Api) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    resets.put(email, user_id, passwords.hash_password("24681357"), expires_at=int(time.time()) - 1)
    status, answer = confirm(api, email, "24681357")
    assert (status, answer["message"]) == (403, "Invalid or expired code.")
    assert logs_in(api, email, PASSWORD)


def test_a_code_cannot_be_guessed_past_its_checks_even_with_the_right_one_last(api: Api) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    resets.put(email, user_id, passwords.hash_password("11223344"), expires_at=int(time.time()) + 900)
    for attempt in range(resets.MAX_CHECKS - 1):
        assert confirm(api, email, f"0000000{attempt}")[0] == 403
    assert confirm(api, email, "11223344")[0] == 200  # the fifth check, right: accepted
    email = unique_email()
    user_id, _ = signup(api, email)
    resets.put(email, user_id, passwords.hash_password("11223344"), expires_at=int(time.time()) + 900)
    for attempt in range(resets.MAX_CHECKS):
        assert confirm(api, email, f"0000000{attempt}")[0] == 403
    assert confirm(api, email, "11223344")[0] == 403  # burnt by the fifth wrong one
    assert resets.check(email, int(time.time())) is None
    assert logs_in(api, email, PASSWORD)


def test_a_newer_code_written_during_a_confirmation_wins(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The right code arrives, but a newer code is stored before the password is: nothing changes."""
    email = unique_email()
    user_id, _ = signup(api, email)
    resets.put(email, user_id, passwords.hash_password("13572468"), expires_at=int(time.time()) + 900)
    hash_password = passwords.hash_password

    def newer_code_meanwhile(password: str) -> str:
        resets.put(email, user_id, hash_password("99999999"), expires_at=int(time.time()) + 900)
        return hash_password(password)

    monkeypatch.setattr(passwords, "hash_password", newer_code_meanwhile)
    assert confirm(api, email, "13572468")[0] == 403
    monkeypatch.undo()
    assert logs_in(api, email, PASSWORD) and not logs_in(api, email, NEW_PASSWORD)
    assert confirm(api, email, "99999999")[0] == 200


def test_a_logout_during_a_password_change_wins(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session ends after the current password was checked, before the new one is stored: nothing changes."""
    email = unique_email()
    user_id, token = signup(api, email)
    hash_password = passwords.hash_password

    def logout_meanwhile(password: str) -> str:
        sessions.end_all(user_id)
        return hash_password(password)

    monkeypatch.setattr(passwords, "hash_password", logout_meanwhile)
    status, answer, _ = api.request(
        "POST", "/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, bearer(token)
    )
    monkeypatch.undo()
    assert (status, answer["code"]) == (401, "ERROR_CODE_UNAUTHORIZED")
    assert logs_in(api, email, PASSWORD) and not logs_in(api, email, NEW_PASSWORD)


def test_wrong_current_passwords_count_against_the_login_limit(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "LOGIN_PER_EMAIL", limits.Limit("login-email", 2, 3600))
    email = unique_email()
    _, token = signup(api, email)
    wrong = {"current_password": "not it 1", "new_password": NEW_PASSWORD}
    statuses = [api.request("POST", "/auth/password", wrong, bearer(token))[0] for _ in range(3)]
    assert statuses == [403, 403, 429]
    status, answer, headers = api.post("login", {"email": email, "password": PASSWORD})
    assert status == 429 and int(headers["Retry-After"]) >= 1, answer


def test_reset_requests_are_limited_per_email_alike_for_unknown_emails(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reset_request, "RESET_PER_EMAIL", limits.Limit("reset-email", 2, 3600))
    known, unknown = unique_email(), unique_email()
    signup(api, known)
    for email in (known, unknown):
        statuses = [
            api.post("password-reset", {"email": email})[0] for _ in range(3)
        ]  # each from an address of its own
        assert statuses == [200, 200, 429]


def test_reset_requests_are_limited_per_source_address(
    handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reset_request, "RESET_PER_IP", limits.Limit("reset-ip", 2, 3600))
    address = random_ip()
    statuses = [
        handlers["password_reset"](
            event("password_reset", body=json.dumps({"email": unique_email()}), source_ip=address)
        )["statusCode"]
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_a_token_without_a_session_is_refused(api: Api) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    sessionless = tokens.issue(keys.current_store().get(), user_id, 600)
    assert me(api, sessionless) == 401


def test_every_token_issued_names_a_recorded_session(api: Api) -> None:
    email = unique_email()
    user_id, from_signup = signup(api, email)
    _, login_answer, _ = api.post("login", {"email": email, "password": PASSWORD})
    issued = [from_signup, login_answer["authToken"], signin.start(user_id)]
    recorded = {session.id for session in sessions.of(user_id)}
    named = {tokens.verify(keys.current_store().get(), token).session_id for token in issued}
    assert named == recorded and len(recorded) == 3
    for session in sessions.of(user_id):
        claims = next(
            claims
            for claims in (tokens.verify(keys.current_store().get(), token) for token in issued)
            if claims.session_id == session.id
        )
        assert session.expires_at == claims.expires_at


def test_a_password_change_gives_this_session_a_new_id_and_refuses_its_earlier_tokens(api: Api) -> None:
    email = unique_email()
    user_id, token = signup(api, email)
    old = tokens.verify(keys.current_store().get(), token)
    (before,) = sessions.of(user_id)
    status, answer, _ = api.request(
        "POST", "/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, bearer(token)
    )
    assert status == 200
    fresh = tokens.verify(keys.current_store().get(), answer["authToken"])
    (session,) = sessions.of(user_id)
    assert session.id == fresh.session_id != old.session_id
    assert session.created_at == before.created_at  # the same sign-in, under a new id
    assert session.expires_at == fresh.expires_at >= old.expires_at
    status, refusal = api.me(headers={"Authorization": f"Bearer {token}"})
    assert (status, refusal["message"]) == (401, "Invalid token.")
    assert me(api, answer["authToken"]) == 200
    assert users.get_user(user_id) is not None


def test_a_login_whose_retried_commit_finds_it_done_succeeds(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    monkeypatch.setattr(table, "transaction", committed_then_retried)
    status, answer, _ = api.post("login", {"email": email, "password": PASSWORD})
    monkeypatch.undo()
    assert status == 200, answer
    assert me(api, answer["authToken"]) == 200
    assert len(sessions.of(user_id)) == 2  # signup's and this one, recorded once


def test_past_the_most_sessions_a_user_may_have_the_oldest_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    user_id = 880_000 + int(time.time() * 1000) % 100_000
    now = int(time.time())
    for index, created_at in enumerate((now - 40, now - 30, now - 20, now - 10)):
        sessions.start(user_id, f"s{index}", created_at, created_at + 3600, first=index == 0)
    assert [session.id for session in sessions.of(user_id)] == ["s3", "s2", "s1"]


def test_expired_sessions_are_forgotten_when_the_next_one_starts() -> None:
    user_id = 990_000 + int(time.time() * 1000) % 100_000
    now = int(time.time())
    sessions.start(user_id, "old", now - 7200, now - 3600, first=True)
    sessions.start(user_id, "live", now - 60, now + 3600)
    sessions.start(user_id, "new", now, now + 3600)
    assert [session.id for session in sessions.of(user_id)] == ["new", "live"]


@pytest.mark.parametrize("first", [True, False])
def test_a_session_starts_whether_or_not_the_user_has_sessions_already(first: bool) -> None:
    for has_sessions in (False, True):
        user_id = 770_000 + int(time.time() * 1_000_000) % 100_000
        if has_sessions:
            sessions.start(user_id, "earlier", int(time.time()), int(time.time()) + 60)
        sessions.start(user_id, "this", int(time.time()), int(time.time()) + 60, first=first)
        assert "this" in {session.id for session in sessions.of(user_id)}


@contextlib.contextmanager
def committed_then_retried() -> Iterator[Any]:
    """A transaction that commits, and whose commit is then sent again, as a retry after a lost answer is,
    to a store that ignores the request token (the retry's conditions no longer hold)."""
    with real_transaction() as transaction:
        yield transaction
    transaction._commit()


real_transaction = table.transaction


def test_a_reset_whose_retried_commit_finds_it_done_succeeds(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    resets.put(email, user_id, passwords.hash_password("86427531"), expires_at=int(time.time()) + 900)
    monkeypatch.setattr(table, "transaction", committed_then_retried)
    status, answer = confirm(api, email, "86427531")
    monkeypatch.undo()
    assert status == 200, answer
    assert me(api, answer["authToken"]) == 200 and logs_in(api, email, NEW_PASSWORD)


def test_a_password_change_committed_again_by_a_retry_is_the_same_change(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email()
    _, token = signup(api, email)
    other = api.post("login", {"email": email, "password": PASSWORD})[1]["authToken"]
    monkeypatch.setattr(table, "transaction", committed_then_retried)
    status, answer, _ = api.request(
        "POST", "/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, bearer(token)
    )
    monkeypatch.undo()
    assert status == 200, answer
    assert me(api, answer["authToken"]) == 200 and me(api, other) == 401
    assert logs_in(api, email, NEW_PASSWORD)


def test_a_reset_lifts_the_emails_login_lockout(api: Api) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    for _ in range(auth.LOGIN_PER_EMAIL.max_attempts):
        assert api.post("login", {"email": email, "password": "not it 1"})[0] == 403
    assert api.post("login", {"email": email, "password": PASSWORD})[0] == 429
    resets.put(email, user_id, passwords.hash_password("75318642"), expires_at=int(time.time()) + 900)
    assert confirm(api, email, "75318642")[0] == 200
    assert logs_in(api, email, NEW_PASSWORD)


class _Answer:
    """An HTTP answer's body, as botocore reads one from the wire."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@contextlib.contextmanager
def first_transaction_conflicts() -> Iterator[list[str]]:
    """DynamoDB cancels the next transaction sent, as it does one that met another transaction on an item
    (moto, one request at a time, never does); the operations sent meanwhile are listed."""
    from botocore.awsrequest import AWSResponse

    sent: list[str] = []
    reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    }

    def conflict_once(operation: str, request: Any) -> AWSResponse | None:
        sent.append(operation)
        if operation != "TransactWriteItems" or sent.count("TransactWriteItems") > 1:
            return None
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "conflict"}
        return AWSResponse(request.url, 400, headers, _Answer(json.dumps(body).encode()))

    with dynamodb_requests(conflict_once):
        yield sent


def test_a_login_whose_transaction_met_another_tries_again(api: Api) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    with first_transaction_conflicts() as sent:
        status, answer, _ = api.post("login", {"email": email, "password": PASSWORD})
    assert status == 200, answer
    assert sent.count("TransactWriteItems") == 2
    assert me(api, answer["authToken"]) == 200 and len(sessions.of(user_id)) == 2
