"""The account lifecycle in-process, against moto's DynamoDB: what HTTP cannot reach or time can
only reach slowly (expired codes, races with a logout or a newer code, the limits, what the
table holds), through the gateway emulation or the layer itself."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_auth import auth, keys, limits, passwords, reset_request, signin, tokens
from lambda_auth.store import resets, sessions, table, users
from tests.conftest import LocalStack, awaited_reset_code, event, random_ip, unique_email
from tests.integration.conftest import Api

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


def mailed_code(email: str, timeout: float = 20.0) -> str:
    """The code of the latest mail to `email` in the session's outbox, once the mailer has run."""
    outbox = Path(os.environ["AUTH_MAIL_OUTBOX"])

    def mails() -> list[dict[str, str]]:
        return [json.loads(line) for line in outbox.read_text().splitlines() if line] if outbox.exists() else []

    return awaited_reset_code(mails, email, timeout)


def test_a_reset_request_hands_over_to_the_mailer_which_stores_only_a_hash_of_the_code(
    api: Api, stack: LocalStack
) -> None:
    email = unique_email()
    user_id, _ = signup(api, email)
    status, answer, _ = api.post("password-reset", {"email": email})
    assert (status, answer) == (200, {})
    code = mailed_code(email)
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
    raw = dynamodb.get_item(TableName=stack.table_name, Key={"pk": {"S": f"reset#{email}"}}, ConsistentRead=True)
    item = raw["Item"]
    assert code not in json.dumps(item)
    assert item["code_hash"]["S"].startswith("$argon2id$")
    assert int(item["user_id"]["N"]) == user_id and int(item["checks"]["N"]) == 0
    ttl = int(item["expires_at"]["N"]) - time.time()
    assert 900 - 60 < ttl <= 900  # AUTH_RESET_CODE_TTL_SECONDS' default, 15 minutes


def test_the_mailer_stores_and_sends_nothing_for_an_email_without_an_account(
    handlers: dict[str, Any],
) -> None:
    email = unique_email()
    assert handlers["password_reset_mailer"]({"email": email}) is None
    assert resets.check(email, int(time.time())) is None
    outbox = Path(os.environ["AUTH_MAIL_OUTBOX"])
    assert email not in (outbox.read_text() if outbox.exists() else "")


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


def test_a_password_change_keeps_this_session_until_its_new_expiry(api: Api) -> None:
    email = unique_email()
    user_id, token = signup(api, email)
    status, answer, _ = api.request(
        "POST", "/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, bearer(token)
    )
    assert status == 200
    fresh = tokens.verify(keys.current_store().get(), answer["authToken"])
    old = tokens.verify(keys.current_store().get(), token)
    (session,) = sessions.of(user_id)
    assert session.id == fresh.session_id == old.session_id
    assert session.expires_at == fresh.expires_at >= old.expires_at
    assert users.get_user(user_id) is not None


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
