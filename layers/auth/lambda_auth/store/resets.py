"""Password reset codes: one pending code per email, `reset#<email>`, replaced by a newer one.

The item holds the code's argon2 hash (never the code), the user it resets, how many
checks it has had, and when it expires (the table's TTL attribute). Each check of a code
is counted before the code is compared, atomically and only while checks remain, so a
burst of guesses gets no more than `MAX_CHECKS`: after the last, no check is let in again
(the code is burnt). A right code whose check was let in is spent, by the transaction
that sets the new password (`spend`), whatever other checks were counted meanwhile; it
is spent once, and a newer code replacing it wins.

A code the mailer made carries its reset request's id and the kid of the key it was
derived with: the request's code is stored once (`put`), so a retried mailing finds it
and mails it again instead of replacing it.
"""

from __future__ import annotations

from typing import NamedTuple

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.transactions import TransactWrite

from .layout import reset as key
from .table import TableModel, condition_failed

MAX_CHECKS = 5


class PendingReset(NamedTuple):
    email: str
    user_id: int
    code_hash: str


class StoredCode(NamedTuple):
    """The code a reset request already has: the kid of the key it was derived with, and when it expires."""

    request_id: str
    key_id: str
    expires_at: int


class ResetItem(TableModel):
    user_id = NumberAttribute()
    code_hash = UnicodeAttribute()
    checks = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # the table's TTL attribute; also checked, as TTL deletes late
    request_id = UnicodeAttribute(null=True)  # the reset request the code was made for, if the mailer made it
    key_id = UnicodeAttribute(null=True)  # the kid of the key the mailer derived it with


def put(
    email: str,
    user_id: int,
    code_hash: str,
    expires_at: int,
    request_id: str | None = None,
    key_id: str | None = None,
) -> StoredCode | None:
    """Store a new pending code for `email`, replacing any earlier one; None once it is stored.

    With `request_id`, the code of that reset request is stored once: if the pending code is
    already this request's (its mailing retried), it stays as it is, its checks included, and
    what is pending now is returned instead (another request's, if a newer one came meanwhile).
    """
    item = ResetItem(
        pk=key(email),
        user_id=user_id,
        code_hash=code_hash,
        checks=0,
        expires_at=expires_at,
        request_id=request_id,
        key_id=key_id,
    )
    if request_id is None:
        item.save()
        return None
    try:
        item.save(condition=ResetItem.request_id.does_not_exist() | (ResetItem.request_id != request_id))
        return None
    except PutError as error:
        if not condition_failed(error):
            raise
    pending = ResetItem.get(key(email), consistent_read=True)
    return StoredCode(str(pending.request_id or ""), str(pending.key_id or ""), int(pending.expires_at))


def check(email: str, now: int) -> PendingReset | None:
    """Count a check of the code pending for `email`; the code, or None when none is pending or checks remain none."""
    item = ResetItem(pk=key(email))
    try:
        item.update(
            actions=[ResetItem.checks.add(1)],
            condition=ResetItem.pk.exists() & (ResetItem.checks < MAX_CHECKS) & (ResetItem.expires_at > now),
        )
    except UpdateError as error:
        if condition_failed(error):
            return None
        raise
    return PendingReset(email, int(item.user_id), item.code_hash)


def spend(transaction: TransactWrite, pending: PendingReset) -> None:
    """In `transaction`: delete the code, on condition that it is still the one checked (not spent, not replaced)."""
    transaction.delete(ResetItem(pk=key(pending.email)), condition=ResetItem.code_hash == pending.code_hash)
