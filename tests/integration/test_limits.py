"""Brute-force limits: failed logins per email and per IP, signups per IP, counted in DynamoDB."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lambda_auth import auth, limits
from lambda_auth.store import attempts
from tests.conftest import event, random_ip, unique_email
from tests.integration.conftest import dynamodb_requests

PASSWORD = "correct horse 42"


def post(handlers: dict[str, Any], route: str, body: dict[str, Any], source_ip: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = handlers[route](event(route, body=body, source_ip=source_ip))
    return response


def signed_up(handlers: dict[str, Any]) -> str:
    email = unique_email()
    assert post(handlers, "signup", {"email": email, "password": PASSWORD})["statusCode"] == 200
    return email


def counted(key: str) -> int | None:
    """The attempts counted for `key`, or None when no window is open."""
    try:
        return int(attempts.AttemptItem.get(key, consistent_read=True).attempts)
    except attempts.AttemptItem.DoesNotExist:
        return None


def fail_login(handlers: dict[str, Any], email: str, times: int, source_ip: str | None = None) -> None:
    for _ in range(times):
        response = post(handlers, "login", {"email": email, "password": "wrong guess 1"}, source_ip)
        assert response["statusCode"] == 403


def test_an_email_past_its_failure_limit_is_refused_with_retry_after_even_with_the_right_password(
    handlers: dict[str, Any],
) -> None:
    email = signed_up(handlers)
    fail_login(handlers, email, auth.LOGIN_PER_EMAIL.max_attempts)
    response = post(handlers, "login", {"email": email, "password": PASSWORD})
    assert response["statusCode"] == 429
    body = json.loads(response["body"])
    assert body["code"] == "ERROR_CODE_TOO_MANY_REQUESTS" and "payload" not in body
    retry_after = int(response["headers"]["Retry-After"])
    assert 0 < retry_after <= auth.LOGIN_PER_EMAIL.window_seconds


def test_a_refused_login_does_not_check_the_password(handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    email = signed_up(handlers)
    fail_login(handlers, email, auth.LOGIN_PER_EMAIL.max_attempts)
    checked: list[str] = []
    monkeypatch.setattr(auth.passwords, "verify_password", lambda *args: checked.append("verify") or True)
    assert post(handlers, "login", {"email": email, "password": PASSWORD})["statusCode"] == 429
    assert checked == []


def test_login_works_again_once_the_window_has_passed(
    handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    email = signed_up(handlers)
    fail_login(handlers, email, auth.LOGIN_PER_EMAIL.max_attempts)
    later = time.time() + auth.LOGIN_PER_EMAIL.window_seconds + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert post(handlers, "login", {"email": email, "password": PASSWORD})["statusCode"] == 200


def test_a_successful_login_clears_the_emails_failures(handlers: dict[str, Any]) -> None:
    email = signed_up(handlers)
    fail_login(handlers, email, auth.LOGIN_PER_EMAIL.max_attempts - 1)
    assert post(handlers, "login", {"email": email, "password": PASSWORD})["statusCode"] == 200
    assert counted(auth.LOGIN_PER_EMAIL.key(email)) is None
    fail_login(handlers, email, auth.LOGIN_PER_EMAIL.max_attempts - 1)
    assert post(handlers, "login", {"email": email, "password": PASSWORD})["statusCode"] == 200


def test_concurrent_attempts_get_no_more_guesses_than_the_limit(handlers: dict[str, Any]) -> None:
    email = signed_up(handlers)
    attempts = 8
    with ThreadPoolExecutor(max_workers=attempts) as pool:
        statuses = list(
            pool.map(
                lambda _: post(handlers, "login", {"email": email, "password": "wrong guess 1"})["statusCode"],
                range(attempts),
            )
        )
    # Each attempt is counted before its password is checked: exactly the limit get checked.
    limit = auth.LOGIN_PER_EMAIL.max_attempts
    assert sorted(statuses) == [403] * limit + [429] * (attempts - limit)
    assert counted(auth.LOGIN_PER_EMAIL.key(email)) == attempts


def test_a_successful_login_is_not_counted_against_its_address(handlers: dict[str, Any]) -> None:
    email = signed_up(handlers)
    address = random_ip()
    for _ in range(3):
        assert post(handlers, "login", {"email": email, "password": PASSWORD}, address)["statusCode"] == 200
    fail_login(handlers, email, 1, source_ip=address)
    assert counted(auth.LOGIN_PER_IP.key(address)) == 1


def test_counting_attempts_concurrently_loses_none() -> None:
    key = f"limit#test#{unique_email()}"
    now = int(time.time())
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: attempts.count_attempt(key, 900, now), range(24)))
    assert counted(key) == 24


@contextlib.contextmanager
def operations_sent() -> Iterator[list[str]]:
    """The DynamoDB operations the layer sends in the block, in order."""
    sent: list[str] = []

    with dynamodb_requests(lambda operation, _: sent.append(operation)):
        yield sent


def test_counting_an_attempt_is_one_write_whether_it_opens_a_window_or_not() -> None:
    key = f"limit#test#{unique_email()}"
    now = int(time.time())
    with operations_sent() as opening:
        first = attempts.count_attempt(key, 900, now)
    with operations_sent() as counting:
        second = attempts.count_attempt(key, 900, now + 10)
    assert opening == counting == ["UpdateItem"]
    assert (first.count, second.count) == (1, 2)
    assert first.window_ends_at == second.window_ends_at == now + 900


def test_an_attempt_after_a_window_ended_opens_a_new_one_though_ttl_has_not_deleted_it() -> None:
    key = f"limit#test#{unique_email()}"
    now = int(time.time())
    for _ in range(3):
        attempts.count_attempt(key, 900, now)
    later = attempts.count_attempt(key, 900, now + 900)
    assert (later.count, later.window_ends_at) == (1, now + 1800)
    assert counted(key) == 1


def test_a_source_ip_past_its_failure_limit_is_refused_for_every_email(
    handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "LOGIN_PER_IP", limits.Limit("login-ip", 3, 900))
    address = random_ip()
    for _ in range(3):
        fail_login(handlers, unique_email(), 1, source_ip=address)
    email = signed_up(handlers)
    assert post(handlers, "login", {"email": email, "password": PASSWORD}, address)["statusCode"] == 429
    assert post(handlers, "login", {"email": email, "password": PASSWORD}, random_ip())["statusCode"] == 200


def test_signups_per_source_ip_are_limited(handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "SIGNUP_PER_IP", limits.Limit("signup-ip", 3, 3600))
    address = random_ip()
    statuses = [
        post(handlers, "signup", {"email": unique_email(), "password": PASSWORD}, address)["statusCode"]
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    assert post(handlers, "signup", {"email": unique_email(), "password": PASSWORD}, random_ip())["statusCode"] == 200


def ipv6_network() -> str:
    """A random /64 of 2001:db8::/32, the range set aside for documentation, as its first four groups."""
    return "2001:db8:" + ":".join(f"{random.randrange(65536):x}" for _ in range(2))


def test_an_ipv6_client_counts_as_its_whole_64(handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "SIGNUP_PER_IP", limits.Limit("signup-ip", 3, 3600))
    network = ipv6_network()
    statuses = [
        post(handlers, "signup", {"email": unique_email(), "password": PASSWORD}, f"{network}::{host:x}")["statusCode"]
        for host in range(1, 5)  # four addresses of one /64
    ]
    assert statuses == [200, 200, 200, 429]
    other = f"{ipv6_network()}::1"
    assert post(handlers, "signup", {"email": unique_email(), "password": PASSWORD}, other)["statusCode"] == 200


def test_failed_logins_from_one_64_count_together(handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "LOGIN_PER_IP", limits.Limit("login-ip", 2, 900))
    network = ipv6_network()
    fail_login(handlers, unique_email(), 1, source_ip=f"{network}:1:2:3:4")
    fail_login(handlers, unique_email(), 1, source_ip=f"{network}::abcd")
    email = signed_up(handlers)
    assert post(handlers, "login", {"email": email, "password": PASSWORD}, f"{network}::9")["statusCode"] == 429


def test_attempt_counters_expire_by_ttl(handlers: dict[str, Any]) -> None:
    email = signed_up(handlers)
    fail_login(handlers, email, 1)
    item = attempts.AttemptItem.get(auth.LOGIN_PER_EMAIL.key(email), consistent_read=True)
    assert item.expires_at == item.window_ends_at > time.time()
