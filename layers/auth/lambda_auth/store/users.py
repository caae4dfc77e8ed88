"""Users: the profile /auth/me returns, the credentials login reads, and the id counter.

Signup writes a user's profile and credentials in one transaction, each on condition that
it does not exist yet, so an email can never belong to two users, even under concurrent
signups, and a failed signup leaves no half-created user.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from . import layout, table
from .table import TableModel


class EmailInUse(Exception):
    """Signup found the email already taken."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    created_at: int  # epoch milliseconds


class Credentials(NamedTuple):
    user_id: int
    password_hash: str


class ProfileItem(TableModel):
    id = NumberAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = NumberAttribute()


class CredentialItem(TableModel):
    user_id = NumberAttribute()
    password_hash = UnicodeAttribute()


class CounterItem(TableModel):
    value = NumberAttribute(default=0)


def _next_user_id() -> int:
    # An atomic counter: ids are unique and never reused; a failed signup leaves a gap.
    counter = CounterItem(pk=layout.USER_COUNTER)
    counter.update(actions=[CounterItem.value.add(1)])
    return int(counter.value)


def create_user(email: str, name: str, password_hash: str, created_at: int) -> User:
    """Store a new user; raise `EmailInUse` when `email` already has one. Both items or neither."""
    user = User(id=_next_user_id(), email=email, name=name, created_at=created_at)
    profile = ProfileItem(pk=layout.profile(user.id), id=user.id, email=email, name=name, created_at=created_at)
    credentials = CredentialItem(pk=layout.credentials(email), user_id=user.id, password_hash=password_hash)
    try:
        with table.transaction() as transaction:
            transaction.save(credentials, condition=CredentialItem.pk.does_not_exist())
            transaction.save(profile, condition=ProfileItem.pk.does_not_exist())
    except TransactWriteError as error:
        reasons = error.cancellation_reasons if error.cause_response_code == "TransactionCanceledException" else []
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            existing = get_credentials(email)
            if existing is None or existing.user_id != user.id:
                raise EmailInUse(email) from None
            # Our own write, committed by an attempt whose answer was lost and then retried:
            # the request token makes DynamoDB answer such a retry with success, not every
            # DynamoDB-compatible store does.
        else:
            raise
    return user


def get_credentials(email: str) -> Credentials | None:
    """The id and password hash of the user with `email`, or None."""
    try:
        item = CredentialItem.get(layout.credentials(email), consistent_read=True)
    except DoesNotExist:
        return None
    return Credentials(user_id=int(item.user_id), password_hash=item.password_hash)


def get_user(user_id: int) -> User | None:
    """The profile of user `user_id`, or None."""
    try:
        item = ProfileItem.get(layout.profile(user_id), consistent_read=True)
    except DoesNotExist:
        return None
    return _user(item)


def _user(item: ProfileItem) -> User:
    return User(id=int(item.id), email=item.email, name=item.name, created_at=int(item.created_at))


def find_user_by_email(email: str) -> User | None:
    """The profile of the user with `email` (as stored: trimmed and lower-cased), or None."""
    credentials = get_credentials(email)
    return None if credentials is None else get_user(credentials.user_id)


SCAN_PAGE_SIZE = 1000  # items DynamoDB evaluates per page of a scan (it also stops a page at 1 MB)


def list_users(search: str = "", limit: int = 50, progress: Callable[[int], None] | None = None) -> list[User]:
    """Up to `limit` users whose email contains `search` (lower-cased), in id order.

    For admin tools, not for a route: a scan of the whole table, page by page, that stops
    once `limit` users match. `progress`, if given, is called after each page with the
    number of items scanned so far. DynamoDB keeps items in no order, so when more than
    `limit` users match, which of them come back is arbitrary.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    condition = ProfileItem.pk.startswith(layout.PROFILE_PREFIX)  # profiles only, no other kind of item
    if search.strip():
        condition &= ProfileItem.email.contains(search.strip().lower())
    pages = ProfileItem.scan(condition, page_size=SCAN_PAGE_SIZE).page_iter
    found: list[User] = []
    for page in pages:
        for raw in page.get("Items", []):
            found.append(_user(ProfileItem.from_raw_data(raw)))
            if len(found) == limit:
                break
        if progress is not None:
            progress(pages.total_scanned_count)
        if len(found) == limit:
            break
    return sorted(found, key=lambda user: user.id)


def set_password(
    transaction: TransactWrite, email: str, user_id: int, password_hash: str, replacing: str | None = None
) -> None:
    """In `transaction`: store a new password hash, on condition that `email` still belongs to `user_id`
    and, given `replacing`, that its hash is still that one (the one a password check verified)."""
    condition = CredentialItem.user_id == user_id
    if replacing is not None:
        condition &= CredentialItem.password_hash == replacing
    transaction.update(
        CredentialItem(pk=layout.credentials(email)),
        actions=[CredentialItem.password_hash.set(password_hash)],
        condition=condition,
    )


def replace_password_hash(transaction: TransactWrite, email: str, verified: Credentials, password_hash: str) -> None:
    """In `transaction`: store a new hash of the same password (a re-hash), on condition that `email`'s
    credentials are still `verified` (a password change or reset meanwhile wins)."""
    set_password(transaction, email, verified.user_id, password_hash, replacing=verified.password_hash)


def require_unchanged(transaction: TransactWrite, email: str, verified: Credentials) -> None:
    """In `transaction`: a condition, writing nothing, that `email`'s credentials are still `verified`:
    the same user and the hash a password check verified."""
    unchanged = (CredentialItem.user_id == verified.user_id) & (CredentialItem.password_hash == verified.password_hash)
    transaction.condition_check(CredentialItem, layout.credentials(email), condition=unchanged)


def has_password_hash(email: str, password_hash: str) -> bool:
    """Whether `email`'s stored hash is `password_hash`: after a transaction that set it was refused,
    whether an earlier attempt of the same transaction committed (a hash, salted, is never made twice)."""
    credentials = get_credentials(email)
    return credentials is not None and hmac.compare_digest(credentials.password_hash, password_hash)
