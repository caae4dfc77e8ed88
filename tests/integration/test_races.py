"""Races between sign-in requests, across processes sharing the session's table (`tests.processes`).

Each race is made exact: one worker's request is held just before a chosen DynamoDB write
while another worker's request runs to its end; then the held one goes on. Setup and the
checks afterwards go through the gateway emulation in this process, on the same table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher

from lambda_auth import auth, passwords
from lambda_auth.store import layout, resets, users
from tests.conftest import LocalStack, event, unique_email
from tests.integration.conftest import Api
from tests.processes import Hold, Worker, workers

PASSWORD = "correct horse 42"
NEW_PASSWORD = "a new horse 43"
RESET_PASSWORD = "reset horse 44"
CODE = "24681357"

SESSION_WRITE = ("UpdateItem", "TransactWriteItems", "PutItem")
CREDENTIALS_WRITE = ("UpdateItem", "TransactWriteItems")


@pytest.fixture(scope="module")
def pool(stack: LocalStack) -> Iterator[list[Worker]]:
    """Four worker processes on the session's table, for this module's tests."""
    with workers(4) as started:
        yield started


@pytest.fixture
def pair(pool: list[Worker]) -> tuple[Worker, Worker]:
    """Two of them: the one whose request is held, and the one that races it."""
    return pool[0], pool[1]


def signed_up(api: Api) -> tuple[str, int, str]:
    """A new user: email, id and signup token."""
    email = unique_email()
    status, answer, _ = api.post("signup", {"email": email, "password": PASSWORD})
    assert status == 200, answer
    token = answer["authToken"]
    status, profile = api.me(headers={"Authorization": f"Bearer {token}"})
    assert status == 200, profile
    return email, int(profile["id"]), token


def authorized(api: Api, name: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """events/<name>.json with `body`, as API Gateway passes it on once the authorizer allowed `token`."""
    request = event(name, body=body)
    check = event("authorizer")
    check["headers"]["Authorization"] = f"Bearer {token}"
    check["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    answer = api.handlers["authorizer"](check)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    context = {key: value if isinstance(value, str) else json.dumps(value) for key, value in answer["context"].items()}
    request["requestContext"]["authorizer"] = {"principalId": answer["principalId"], **context}
    return request


def answer_of(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


def me(api: Api, token: str) -> int:
    return api.me(headers={"Authorization": f"Bearer {token}"})[0]


def logs_in(api: Api, email: str, password: str) -> bool:
    return api.post("login", {"email": email, "password": password})[0] == 200


def login_event(email: str, password: str = PASSWORD) -> dict[str, Any]:
    return event("login", body={"email": email, "password": password})


def change_event(api: Api, token: str) -> dict[str, Any]:
    return authorized(api, "password", token, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})


def confirm_event(email: str, code: str = CODE, new_password: str = RESET_PASSWORD) -> dict[str, Any]:
    return event("password_reset_confirm", body={"email": email, "code": code, "new_password": new_password})


def pending_code(email: str, user_id: int, code: str = CODE) -> None:
    resets.put(email, user_id, passwords.hash_password(code), expires_at=int(time.time()) + 900)


def assert_refused_credentials(held: Worker) -> None:
    """The held request's answer is login's refusal, 403 `Invalid Credentials.`"""
    status, refused = answer_of(held.response())
    assert (status, refused["message"]) == (403, "Invalid Credentials."), refused


def test_a_login_that_checked_the_old_password_is_refused_once_a_password_change_lands(
    api: Api, pair: tuple[Worker, Worker]
) -> None:
    held, racing = pair
    email, user_id, token = signed_up(api)
    held.send("login", login_event(email), Hold(SESSION_WRITE, f"sessions#{user_id}"))
    held.wait_held()  # the password was checked; the session is not written yet
    status, changed = answer_of(racing.invoke("password", change_event(api, token)))
    assert status == 200, changed
    held.release()
    assert_refused_credentials(held)  # the password it checked is no longer the user's: no session, no token
    assert me(api, changed["authToken"]) == 200  # the owner's session stands
    assert logs_in(api, email, NEW_PASSWORD) and not logs_in(api, email, PASSWORD)


def test_a_login_that_checked_the_old_password_is_refused_once_a_reset_lands(
    api: Api, pair: tuple[Worker, Worker]
) -> None:
    held, racing = pair
    email, user_id, _ = signed_up(api)
    pending_code(email, user_id)
    held.send("login", login_event(email), Hold(SESSION_WRITE, f"sessions#{user_id}"))
    held.wait_held()
    status, reset = answer_of(racing.invoke("password_reset_confirm", confirm_event(email)))
    assert status == 200, reset
    held.release()
    assert_refused_credentials(held)  # the password it checked is no longer the user's: no session, no token
    status, _ = answer_of(racing.invoke("logout", authorized(api, "logout", reset["authToken"], {"scope": "others"})))
    assert status == 200 and me(api, reset["authToken"]) == 200
    assert logs_in(api, email, RESET_PASSWORD) and not logs_in(api, email, PASSWORD)


def test_a_logins_rehash_does_not_undo_a_password_change_that_landed_after_its_check(
    api: Api, pair: tuple[Worker, Worker]
) -> None:
    held, racing = pair
    email, _, token = signed_up(api)
    outdated = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    credentials = users.CredentialItem(pk=layout.credentials(email))
    credentials.update(actions=[users.CredentialItem.password_hash.set(outdated)])  # as an older version hashed
    assert passwords.needs_rehash(outdated)
    held.send("login", login_event(email), Hold(CREDENTIALS_WRITE, f"email#{email}"))
    held.wait_held()  # the outdated hash was checked; the new one is about to be stored
    status, changed = answer_of(racing.invoke("password", change_event(api, token)))
    assert status == 200, changed
    held.release()
    assert_refused_credentials(held)  # the password it checked is no longer the user's: no session, no token
    assert logs_in(api, email, NEW_PASSWORD) and not logs_in(api, email, PASSWORD)


def test_a_password_change_does_not_overwrite_a_reset_that_landed_after_its_check(
    api: Api, pair: tuple[Worker, Worker]
) -> None:
    held, racing = pair
    email, user_id, token = signed_up(api)
    pending_code(email, user_id)
    held.send("password", change_event(api, token), Hold(CREDENTIALS_WRITE, f"email#{email}"))
    held.wait_held()  # the current password was checked; the new one is about to be stored
    status, reset = answer_of(racing.invoke("password_reset_confirm", confirm_event(email)))
    assert status == 200, reset
    held.release()
    status, refused = answer_of(held.response())
    assert (status, refused["message"]) == (401, "Invalid token.")  # the reset ended its session
    assert me(api, reset["authToken"]) == 200
    assert logs_in(api, email, RESET_PASSWORD) and not logs_in(api, email, NEW_PASSWORD)


def test_a_logout_of_the_session_during_a_password_change_wins(api: Api, pair: tuple[Worker, Worker]) -> None:
    held, racing = pair
    email, user_id, token = signed_up(api)
    held.send("password", change_event(api, token), Hold(SESSION_WRITE, f"sessions#{user_id}"))
    held.wait_held()
    status, _ = answer_of(racing.invoke("logout", authorized(api, "logout", token, {})))
    assert status == 200
    held.release()
    status, refused = answer_of(held.response())
    assert (status, refused["message"]) == (401, "Invalid token.")
    assert logs_in(api, email, PASSWORD) and not logs_in(api, email, NEW_PASSWORD)


@pytest.mark.parametrize("earlier_wrong_checks", [0, resets.MAX_CHECKS - 2])
def test_a_right_code_is_spent_though_wrong_checks_came_between_its_check_and_its_commit(
    api: Api, pair: tuple[Worker, Worker], earlier_wrong_checks: int
) -> None:
    held, racing = pair
    email, user_id, _ = signed_up(api)
    pending_code(email, user_id)
    for attempt in range(earlier_wrong_checks):
        wrong_code = {"email": email, "code": f"1357000{attempt}", "new_password": NEW_PASSWORD}
        assert api.post("password-reset/confirm", wrong_code)[0] == 403
    held.send("password_reset_confirm", confirm_event(email), Hold(("TransactWriteItems",), f"reset#{email}"))
    held.wait_held()  # the right code was checked (within the limit) and compared
    status, wrong = answer_of(racing.invoke("password_reset_confirm", confirm_event(email, code="99999999")))
    assert (status, wrong["message"]) == (403, "Invalid or expired code.")  # the code's last check, for 3 earlier
    held.release()
    status, reset = answer_of(held.response())
    assert status == 200, reset
    assert me(api, reset["authToken"]) == 200 and logs_in(api, email, RESET_PASSWORD)
    again = api.post("password-reset/confirm", {"email": email, "code": CODE, "new_password": NEW_PASSWORD})
    assert (again[0], again[1]["message"]) == (403, "Invalid or expired code.")


def test_a_right_code_submitted_twice_at_once_is_spent_once(api: Api, pair: tuple[Worker, Worker]) -> None:
    held, racing = pair
    email, user_id, _ = signed_up(api)
    pending_code(email, user_id)
    held.send(
        "password_reset_confirm",
        confirm_event(email, new_password=NEW_PASSWORD),
        Hold(("TransactWriteItems",), f"reset#{email}"),
    )
    held.wait_held()
    status, first = answer_of(racing.invoke("password_reset_confirm", confirm_event(email)))
    assert status == 200, first
    held.release()
    status, second = answer_of(held.response())
    assert (status, second["message"]) == (403, "Invalid or expired code.")
    assert logs_in(api, email, RESET_PASSWORD) and not logs_in(api, email, NEW_PASSWORD)


def test_failed_logins_from_several_processes_at_once_get_no_more_guesses_than_the_limit(
    api: Api, pool: list[Worker]
) -> None:
    email, _, _ = signed_up(api)
    statuses: list[int] = []
    for _ in range(2):  # the first round opens the email's window, the second counts in it
        for worker in pool:
            worker.send("login", login_event(email, "wrong guess 1"))
        statuses += [worker.response()["statusCode"] for worker in pool]
    limit = auth.LOGIN_PER_EMAIL.max_attempts
    assert sorted(statuses) == [403] * limit + [429] * (len(statuses) - limit)
    status, _, headers = api.post("login", {"email": email, "password": PASSWORD})
    assert status == 429 and int(headers["Retry-After"]) >= 1
