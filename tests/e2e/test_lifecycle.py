"""The account lifecycle over real HTTP, through the local server: logout, password change and
password reset by an emailed code, with the authorizer checking every token's session."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import awaited_reset_code
from tests.e2e.conftest import GENEROUS_LIMITS, Reply, RunningServer, call, own_server

PASSWORD = "correct horse battery staple 4"
NEW_PASSWORD = "a new horse, a new staple 5"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of this module's own, with `--parameter-overrides` for the limits per address."""
    with own_server(tmp_path_factory, "lifecycle", *GENEROUS_LIMITS) as running:
        yield running


def email_address() -> str:
    return f"lifecycle-{uuid.uuid4().hex[:10]}@example.com"


def signup(server: RunningServer, email: str) -> str:
    reply = call(f"{server.base_url}/auth/signup", "POST", {"name": "Noor", "email": email, "password": PASSWORD})
    assert reply.status == 200, reply.body
    return str(reply.json()["authToken"])


def login(server: RunningServer, email: str, password: str = PASSWORD) -> Reply:
    return call(f"{server.base_url}/auth/login", "POST", {"email": email, "password": password})


def me(server: RunningServer, token: str) -> Reply:
    return call(f"{server.base_url}/auth/me", headers={"Authorization": f"Bearer {token}"})


def post(server: RunningServer, route: str, body: Any, token: str | None = None) -> Reply:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return call(f"{server.base_url}{route}", "POST", body, headers=headers)


def outbox(server: RunningServer) -> list[dict[str, str]]:
    path = server.key_file.parent / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def reset_code(server: RunningServer, email: str) -> str:
    """The code of the latest reset mail to `email`, once the mailer (run asynchronously) has sent it."""
    return awaited_reset_code(lambda: outbox(server), email)


def mails_to(server: RunningServer, email: str) -> int:
    return sum(1 for message in outbox(server) if message["to"] == email)


def refused(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    body = reply.json()
    assert body["code"] == code and isinstance(body["message"], str) and body["message"]


# Logout


def test_logout_ends_this_session_only(server: RunningServer) -> None:
    email = email_address()
    first = signup(server, email)
    second = login(server, email).json()["authToken"]
    reply = post(server, "/auth/logout", None, first)
    assert reply.status == 200 and reply.json() == {}
    refused(me(server, first), 401, "ERROR_CODE_UNAUTHORIZED")
    assert me(server, second).status == 200


def test_logout_of_a_token_already_logged_out_is_refused(server: RunningServer) -> None:
    token = signup(server, email_address())
    assert post(server, "/auth/logout", {}, token).status == 200
    refused(post(server, "/auth/logout", {}, token), 401, "ERROR_CODE_UNAUTHORIZED")


def test_logout_of_other_sessions_keeps_this_one(server: RunningServer) -> None:
    email = email_address()
    first = signup(server, email)
    second = login(server, email).json()["authToken"]
    third = login(server, email).json()["authToken"]
    assert post(server, "/auth/logout", {"scope": "others"}, second).status == 200
    assert me(server, second).status == 200
    refused(me(server, first), 401, "ERROR_CODE_UNAUTHORIZED")
    refused(me(server, third), 401, "ERROR_CODE_UNAUTHORIZED")


def test_global_logout_ends_every_session_and_a_new_login_works(server: RunningServer) -> None:
    email = email_address()
    first = signup(server, email)
    second = login(server, email).json()["authToken"]
    assert post(server, "/auth/logout", {"scope": "global"}, second).status == 200
    for token in (first, second):
        refused(me(server, token), 401, "ERROR_CODE_UNAUTHORIZED")
    assert me(server, login(server, email).json()["authToken"]).status == 200


def test_a_logged_out_token_is_refused_in_the_query_string_too(server: RunningServer) -> None:
    token = signup(server, email_address())
    assert post(server, "/auth/logout", None, token).status == 200
    refused(call(f"{server.base_url}/auth/me?authtoken={token}"), 401, "ERROR_CODE_UNAUTHORIZED")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"scope": "everywhere"}, "scope"), ({"scope": 3}, "scope"), ([], None)],
)
def test_a_bad_logout_body_is_a_400_and_logs_nothing_out(server: RunningServer, body: Any, field: str | None) -> None:
    token = signup(server, email_address())
    reply = post(server, "/auth/logout", body, token)
    refused(reply, 400, "ERROR_CODE_INPUT_ERROR")
    if field:
        assert reply.json()["payload"]["param"] == field
    assert me(server, token).status == 200


def test_logout_without_a_token_is_a_401(server: RunningServer) -> None:
    refused(post(server, "/auth/logout", {}), 401, "ERROR_CODE_UNAUTHORIZED")


# Password change


def test_a_password_change_gives_a_fresh_token_and_ends_every_earlier_one(server: RunningServer) -> None:
    email = email_address()
    here = signup(server, email)
    elsewhere = login(server, email).json()["authToken"]
    reply = post(server, "/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, here)
    assert reply.status == 200, reply.body
    fresh = reply.json()["authToken"]
    assert me(server, fresh).json()["email"] == email
    refused(me(server, here), 401, "ERROR_CODE_UNAUTHORIZED")  # the session went on under a new id
    refused(me(server, elsewhere), 401, "ERROR_CODE_UNAUTHORIZED")
    refused(login(server, email, PASSWORD), 403, "ERROR_CODE_ACCESS_DENIED")
    assert login(server, email, NEW_PASSWORD).status == 200


def test_a_wrong_current_password_changes_nothing(server: RunningServer) -> None:
    email = email_address()
    token = signup(server, email)
    other = login(server, email).json()["authToken"]
    reply = post(server, "/auth/password", {"current_password": "not it at all", "new_password": NEW_PASSWORD}, token)
    refused(reply, 403, "ERROR_CODE_ACCESS_DENIED")
    assert reply.json()["message"] == "Invalid Credentials."
    assert login(server, email, PASSWORD).status == 200
    assert me(server, other).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD}, "new_password"),
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORD, "new_password": ["not", "text"]}, "new_password"),
    ],
)
def test_a_bad_password_change_is_a_400_naming_the_field(
    server: RunningServer, body: dict[str, Any], field: str
) -> None:
    email = email_address()
    token = signup(server, email)
    reply = post(server, "/auth/password", body, token)
    refused(reply, 400, "ERROR_CODE_INPUT_ERROR")
    assert reply.json()["payload"]["param"] == field
    assert login(server, email, PASSWORD).status == 200


def test_a_password_change_with_a_logged_out_token_is_a_401(server: RunningServer) -> None:
    email = email_address()
    token = signup(server, email)
    assert post(server, "/auth/logout", {}, token).status == 200
    reply = post(server, "/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, token)
    refused(reply, 401, "ERROR_CODE_UNAUTHORIZED")
    assert login(server, email, PASSWORD).status == 200


# Password reset


def test_a_reset_code_sets_a_new_password_and_ends_every_session(server: RunningServer) -> None:
    email = email_address()
    before = signup(server, email)
    reply = post(server, "/auth/password-reset", {"email": email})
    assert reply.status == 200 and reply.json() == {}
    code = reset_code(server, email)
    confirmed = post(
        server, "/auth/password-reset/confirm", {"email": email, "code": code, "new_password": NEW_PASSWORD}
    )
    assert confirmed.status == 200, confirmed.body
    assert me(server, confirmed.json()["authToken"]).json()["email"] == email
    refused(me(server, before), 401, "ERROR_CODE_UNAUTHORIZED")
    assert login(server, email, NEW_PASSWORD).status == 200
    refused(login(server, email, PASSWORD), 403, "ERROR_CODE_ACCESS_DENIED")
    again = post(server, "/auth/password-reset/confirm", {"email": email, "code": code, "new_password": PASSWORD})
    refused(again, 403, "ERROR_CODE_ACCESS_DENIED")  # a code works once
    assert login(server, email, NEW_PASSWORD).status == 200


def test_the_mail_holds_the_code_and_nothing_is_logged_of_it(server: RunningServer) -> None:
    email = email_address()
    signup(server, email)
    assert post(server, "/auth/password-reset", {"email": email}).status == 200
    code = reset_code(server, email)
    (message,) = [message for message in outbox(server) if message["to"] == email]
    assert message["subject"] == "Your password reset code"
    assert code not in server.output.text()
    assert (server.key_file.parent / "outbox.jsonl").stat().st_mode & 0o777 == 0o600  # codes: the owner's only


def test_a_request_for_an_unknown_email_answers_the_same_and_mails_nothing(server: RunningServer) -> None:
    known, unknown = email_address(), email_address()
    signup(server, known)
    for_known = post(server, "/auth/password-reset", {"email": known})
    for_unknown = post(server, "/auth/password-reset", {"email": unknown})
    assert (for_known.status, for_known.body) == (for_unknown.status, for_unknown.body) == (200, b"{}")
    reset_code(server, known)  # the known one's mail is out, so the unknown one's would be by now too
    time.sleep(0.5)
    assert mails_to(server, unknown) == 0


def test_a_newer_code_replaces_the_older_one(server: RunningServer) -> None:
    email = email_address()
    signup(server, email)
    assert post(server, "/auth/password-reset", {"email": email}).status == 200
    first = reset_code(server, email)
    assert post(server, "/auth/password-reset", {"email": email}).status == 200
    deadline = time.monotonic() + 20
    while mails_to(server, email) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = reset_code(server, email)
    if first != second:
        stale = post(
            server, "/auth/password-reset/confirm", {"email": email, "code": first, "new_password": NEW_PASSWORD}
        )
        refused(stale, 403, "ERROR_CODE_ACCESS_DENIED")
    fresh = post(server, "/auth/password-reset/confirm", {"email": email, "code": second, "new_password": NEW_PASSWORD})
    assert fresh.status == 200, fresh.body


def test_the_fifth_wrong_code_burns_the_right_one(server: RunningServer) -> None:
    email = email_address()
    signup(server, email)
    assert post(server, "/auth/password-reset", {"email": email}).status == 200
    code = reset_code(server, email)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        reply = post(
            server, "/auth/password-reset/confirm", {"email": email, "code": wrong, "new_password": NEW_PASSWORD}
        )
        refused(reply, 403, "ERROR_CODE_ACCESS_DENIED")
        assert reply.json()["message"] == "Invalid or expired code."
    burnt = post(server, "/auth/password-reset/confirm", {"email": email, "code": code, "new_password": NEW_PASSWORD})
    refused(burnt, 403, "ERROR_CODE_ACCESS_DENIED")
    assert login(server, email, PASSWORD).status == 200


def test_a_code_for_an_email_without_a_reset_is_refused_alike(server: RunningServer) -> None:
    email = email_address()
    signup(server, email)
    reply = post(
        server, "/auth/password-reset/confirm", {"email": email, "code": "12345678", "new_password": NEW_PASSWORD}
    )
    refused(reply, 403, "ERROR_CODE_ACCESS_DENIED")
    assert reply.json()["message"] == "Invalid or expired code."


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/auth/password-reset", {}, "email"),
        ("/auth/password-reset", {"email": "not an email"}, "email"),
        ("/auth/password-reset/confirm", {"code": "12345678", "new_password": NEW_PASSWORD}, "email"),
        ("/auth/password-reset/confirm", {"email": "a@example.com", "new_password": NEW_PASSWORD}, "code"),
        (
            "/auth/password-reset/confirm",
            {"email": "a@example.com", "code": "  ", "new_password": NEW_PASSWORD},
            "code",
        ),
        ("/auth/password-reset/confirm", {"email": "a@example.com", "code": "12345678"}, "new_password"),
        (
            "/auth/password-reset/confirm",
            {"email": "a@example.com", "code": "1", "new_password": "short"},
            "new_password",
        ),
    ],
)
def test_bad_reset_input_is_a_400_naming_the_field(server: RunningServer, route: str, body: Any, field: str) -> None:
    reply = post(server, route, body)
    refused(reply, 400, "ERROR_CODE_INPUT_ERROR")
    assert reply.json()["payload"]["param"] == field


@pytest.mark.parametrize("route", ["/auth/password-reset", "/auth/password-reset/confirm"])
def test_a_reset_body_that_is_not_json_is_a_400(server: RunningServer, route: str) -> None:
    reply = call(
        f"{server.base_url}{route}", "POST", raw_body=b"{not json", headers={"Content-Type": "application/json"}
    )
    refused(reply, 400, "ERROR_CODE_INPUT_ERROR")


# The X-Xano-Authorization headers of @xano/js-sdk


def test_the_xano_header_alone_carries_a_token(server: RunningServer) -> None:
    email = email_address()
    token = signup(server, email)
    reply = call(f"{server.base_url}/auth/me", headers={"X-Xano-Authorization": f"Bearer {token}"})
    assert reply.status == 200 and reply.json()["email"] == email


def test_without_the_only_header_authorization_comes_first(server: RunningServer) -> None:
    token = signup(server, email_address())
    headers = {"X-Xano-Authorization": f"Bearer {token}", "Authorization": "Bearer not-a-token"}
    refused(call(f"{server.base_url}/auth/me", headers=headers), 401, "ERROR_CODE_UNAUTHORIZED")


def test_the_xano_only_header_leaves_the_authorization_header_to_the_app(server: RunningServer) -> None:
    token = signup(server, email_address())
    headers = {
        "X-Xano-Authorization": f"Bearer {token}",
        "X-Xano-Authorization-Only": "true",
        "Authorization": "Basic dXNlcjpwYXNz",
    }
    assert call(f"{server.base_url}/auth/me", headers=headers).status == 200
    del headers["X-Xano-Authorization"]  # -Only, and so no token at all: Authorization is not read
    refused(call(f"{server.base_url}/auth/me", headers=headers), 401, "ERROR_CODE_UNAUTHORIZED")
