"""The user store's admin reads: list users with a search and a limit, find one by email; against moto."""

from __future__ import annotations

import time
import uuid

import pytest

from lambda_auth.store import users


def create(email: str, name: str = "Ada") -> users.User:
    return users.create_user(email, name, "not-a-real-hash", int(time.time() * 1000))


def marker() -> str:
    """A string only this test's emails contain, so other tests' users do not match."""
    return f"m{uuid.uuid4().hex[:10]}"


def test_list_users_finds_the_users_whose_email_contains_the_search_in_id_order() -> None:
    tag = marker()
    created = [create(f"{name}.{tag}@example.com", name) for name in ("ada", "grace", "edsger")]
    create(f"someone.else.{marker()}@example.com")
    assert users.list_users(search=tag) == created


def test_list_users_searches_case_insensitively_and_ignores_surrounding_spaces() -> None:
    tag = marker()
    user = create(f"ada.{tag}@example.com")
    assert users.list_users(search=f"  ADA.{tag.upper()} ") == [user]


def test_list_users_returns_only_profiles_never_credentials_counters_or_limits() -> None:
    create(f"ada.{marker()}@example.com")
    listed = users.list_users(limit=10_000)
    assert listed and all(isinstance(user, users.User) and user.id > 0 for user in listed)
    assert len({user.id for user in listed}) == len(listed)


def test_list_users_stops_at_the_limit_across_pages_and_reports_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = marker()
    for index in range(5):
        create(f"user{index}.{tag}@example.com")
    monkeypatch.setattr(users, "SCAN_PAGE_SIZE", 2)  # many pages, so that pagination is exercised
    scanned: list[int] = []
    listed = users.list_users(search=tag, limit=3, progress=scanned.append)
    assert len(listed) == 3 and all(tag in user.email for user in listed)
    assert [user.id for user in listed] == sorted(user.id for user in listed)
    assert len(scanned) > 1 and scanned == sorted(scanned) and scanned[-1] > 0
    assert len(users.list_users(search=tag, limit=50)) == 5


def test_list_users_with_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        users.list_users(limit=0)


def test_find_user_by_email_returns_the_profile_or_none() -> None:
    email = f"ada.{marker()}@example.com"
    user = create(email, "Ada Lovelace")
    assert users.find_user_by_email(email) == user
    assert users.find_user_by_email(f"nobody.{marker()}@example.com") is None


def test_a_signup_whose_retried_commit_finds_its_own_items_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    """An attempt that committed but whose answer was lost is retried; DynamoDB answers the retry by its
    request token, a store that ignores the token refuses it, and the user is still the one just made."""
    email = f"retried.{uuid.uuid4().hex[:10]}@example.com"
    first = users.create_user(email, "Ada", "-", 1)
    monkeypatch.setattr(users, "_next_user_id", lambda: first.id)  # the retry carries the same id
    again = users.create_user(email, "Ada", "-", 1)
    assert again == first
    monkeypatch.undo()
    with pytest.raises(users.EmailInUse):  # another signup of the same email is refused as ever
        users.create_user(email, "Grace", "-", 2)
