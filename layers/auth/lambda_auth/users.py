"""The user store: PynamoDB models on one DynamoDB table, and the few operations the domain needs.

Items, all keyed by the string attribute `pk`:
- `user#<id>`      the profile /auth/me returns: id, email, name, created_at;
- `email#<email>`  the credentials login reads: the user's id and password hash;
- `counter#user`   the last user id handed out;
- `limit#...`      attempt counters for the brute-force limits, each expiring by TTL.
Signup writes the first two in one transaction, each on condition that it does not
exist yet, so an email can never belong to two users, even under concurrent signups.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb import settings as pynamodb_settings
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

# At DEBUG these libraries log whole requests, password hashes included. Whatever level
# the function's root logger is given, they stay above it.
for _library in ("pynamodb", "botocore", "urllib3"):
    logging.getLogger(_library).setLevel(logging.INFO)

# Every call is bounded so that a request fits well inside the function's timeout:
# connect and read timeouts, and DynamoDB's own retry policy (50 ms, then 100 ms between
# attempts) instead of botocore's standard one (up to 1 s, then 2 s). One call gives up
# within 3 x (0.5 + 1.0) s + 0.15 s, under 5 s; transient errors usually answer at once.
CONNECT_TIMEOUT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0
MAX_RETRY_ATTEMPTS = 2
RETRY_CONFIGURATION = {"mode": "legacy", "total_max_attempts": 1 + MAX_RETRY_ATTEMPTS}
# PynamoDB reads its retry policy from its settings when a model first connects.
pynamodb_settings.default_settings_dict["retry_configuration"] = RETRY_CONFIGURATION  # type: ignore[assignment]


class EmailInUse(Exception):
    """Signup found the email already taken."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    created_at: int  # epoch milliseconds


@dataclass(frozen=True)
class Credentials:
    user_id: int
    password_hash: str


@dataclass(frozen=True)
class Attempts:
    count: int
    window_ends_at: int  # epoch seconds


class _TableMeta:
    table_name = ""  # bound at cold start by `bind`
    connect_timeout_seconds = CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds = READ_TIMEOUT_SECONDS
    max_retry_attempts = MAX_RETRY_ATTEMPTS


class ProfileItem(Model):
    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    id = NumberAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = NumberAttribute()


class CredentialItem(Model):
    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    user_id = NumberAttribute()
    password_hash = UnicodeAttribute()


class CounterItem(Model):
    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


class AttemptItem(Model):
    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    attempts = NumberAttribute(default=0)
    window_ends_at = NumberAttribute()
    expires_at = NumberAttribute()  # the table's TTL attribute: DynamoDB deletes the item after it


def bind(table_name: str) -> None:
    """Point every model at `table_name`, all through one connection."""
    _TableMeta.table_name = table_name
    # PynamoDB gives each model class a connection, and each connection a botocore session
    # of its own, which loads DynamoDB's service model again: about 70 ms of a cold start
    # for every further model a request uses (login uses two, signup three with its
    # transaction). The models share one table and one key schema, so one connection
    # serves them all; PynamoDB has no public way to say so (pynamodb/PynamoDB#1245).
    shared = ProfileItem._get_connection()
    for model in (CredentialItem, CounterItem, AttemptItem):
        model._connection = shared


def _profile_key(user_id: int) -> str:
    return f"user#{user_id}"


def _credential_key(email: str) -> str:
    return f"email#{email}"


def _connection() -> Connection:
    # Transactions go through the models' one connection (see `bind`).
    return ProfileItem._get_connection().connection


def _next_user_id() -> int:
    # An atomic counter: ids are unique and never reused; a failed signup leaves a gap.
    counter = CounterItem(pk="counter#user")
    counter.update(actions=[CounterItem.value.add(1)])
    return int(counter.value)


def create_user(email: str, name: str, password_hash: str, created_at: int) -> User:
    """Store a new user; raise `EmailInUse` when `email` already has one. Both items or neither."""
    user = User(id=_next_user_id(), email=email, name=name, created_at=created_at)
    profile = ProfileItem(pk=_profile_key(user.id), id=user.id, email=email, name=name, created_at=created_at)
    credentials = CredentialItem(pk=_credential_key(email), user_id=user.id, password_hash=password_hash)
    try:
        # The request token makes a retried commit idempotent instead of a false conflict.
        with TransactWrite(connection=_connection(), client_request_token=str(uuid.uuid4())) as transaction:
            transaction.save(credentials, condition=CredentialItem.pk.does_not_exist())
            transaction.save(profile, condition=ProfileItem.pk.does_not_exist())
    except TransactWriteError as error:
        reasons = error.cancellation_reasons if error.cause_response_code == "TransactionCanceledException" else []
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            raise EmailInUse(email) from None
        raise
    return user


def get_credentials(email: str) -> Credentials | None:
    """The id and password hash of the user with `email`, or None."""
    try:
        item = CredentialItem.get(_credential_key(email), consistent_read=True)
    except DoesNotExist:
        return None
    return Credentials(user_id=int(item.user_id), password_hash=item.password_hash)


def get_user(user_id: int) -> User | None:
    """The profile of user `user_id`, or None."""
    try:
        item = ProfileItem.get(_profile_key(user_id), consistent_read=True)
    except DoesNotExist:
        return None
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
    condition = ProfileItem.pk.startswith("user#")  # profiles only, not credentials, counters or limits
    if search.strip():
        condition &= ProfileItem.email.contains(search.strip().lower())
    pages = ProfileItem.scan(condition, page_size=SCAN_PAGE_SIZE).page_iter
    found: list[User] = []
    for page in pages:
        for raw in page.get("Items", []):
            item = ProfileItem.from_raw_data(raw)
            found.append(User(id=int(item.id), email=item.email, name=item.name, created_at=int(item.created_at)))
            if len(found) == limit:
                break
        if progress is not None:
            progress(pages.total_scanned_count)
        if len(found) == limit:
            break
    return sorted(found, key=lambda user: user.id)


def replace_password_hash(email: str, user_id: int, password_hash: str) -> None:
    """Store a new hash for the same password (a re-hash), only if `email` still belongs to `user_id`."""
    item = CredentialItem(pk=_credential_key(email))
    item.update(
        actions=[CredentialItem.password_hash.set(password_hash)],
        condition=CredentialItem.user_id == user_id,
    )


def _conditional_check_failed(error: UpdateError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


def count_attempt(key: str, window_seconds: int, now: int) -> Attempts:
    """Add one attempt to the window open for `key`, or open a new window; atomic under concurrency."""
    item = AttemptItem(pk=key)
    try:
        item.update(actions=[AttemptItem.attempts.add(1)], condition=AttemptItem.window_ends_at > now)
    except UpdateError as error:
        if not _conditional_check_failed(error):
            raise
        ends_at = now + window_seconds
        try:
            item.update(
                actions=[
                    AttemptItem.attempts.set(1),
                    AttemptItem.window_ends_at.set(ends_at),
                    AttemptItem.expires_at.set(ends_at),
                ],
                condition=AttemptItem.pk.does_not_exist() | (AttemptItem.window_ends_at <= now),
            )
        except UpdateError as race:
            if not _conditional_check_failed(race):
                raise
            # A concurrent attempt opened the window first: count this one in it.
            item.update(actions=[AttemptItem.attempts.add(1)])
    return Attempts(count=int(item.attempts), window_ends_at=int(item.window_ends_at))


def uncount_attempt(key: str) -> None:
    """Take one attempt back from the window open for `key`, if any remain in it."""
    try:
        AttemptItem(pk=key).update(actions=[AttemptItem.attempts.add(-1)], condition=AttemptItem.attempts > 0)
    except UpdateError as error:
        if not _conditional_check_failed(error):
            raise


def clear_attempts(key: str) -> None:
    """Forget the attempts counted for `key`."""
    AttemptItem(pk=key).delete()
