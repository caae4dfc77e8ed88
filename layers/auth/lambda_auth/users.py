"""The user store: PynamoDB models on one DynamoDB table, and the few operations the domain needs.

Items, all keyed by the string attribute `pk`:
- `user#<id>`      the profile /auth/me returns: id, email, name, created_at;
- `email#<email>`  the credentials login reads: the user's id and password hash;
- `counter#user`   the last user id handed out.
Signup writes the first two in one transaction, each on condition that it does not
exist yet, so an email can never belong to two users, even under concurrent signups.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

# Bounded so that the retries of one call fit well inside a function's timeout.
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
MAX_RETRY_ATTEMPTS = 2


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


def bind(table_name: str) -> None:
    """Point every model at `table_name`."""
    _TableMeta.table_name = table_name


def _profile_key(user_id: int) -> str:
    return f"user#{user_id}"


def _credential_key(email: str) -> str:
    return f"email#{email}"


@functools.cache
def _connection() -> Connection:
    # One client for transactions, reused across invocations like the models' own.
    return Connection(
        connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds=READ_TIMEOUT_SECONDS,
        max_retry_attempts=MAX_RETRY_ATTEMPTS,
    )


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


def replace_password_hash(email: str, user_id: int, password_hash: str) -> None:
    """Store a new hash for the same password (a re-hash), only if `email` still belongs to `user_id`."""
    item = CredentialItem(pk=_credential_key(email))
    item.update(
        actions=[CredentialItem.password_hash.set(password_hash)],
        condition=CredentialItem.user_id == user_id,
    )
