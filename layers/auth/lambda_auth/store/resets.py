"""Password reset codes: one pending code per email, `reset#<email>`, replaced by a newer one.

The item holds the code's argon2 hash (never the code), the user it resets, how many
checks it has had, and when it expires (the table's TTL attribute). Each check of a code
is counted before the code is compared, atomically and only while checks remain, so a
burst of guesses gets no more than the limit; the last allowed wrong guess deletes it.
A right code is spent in the transaction that sets the new password (`spend`).
"""

from __future__ import annotations

from typing import NamedTuple

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.transactions import TransactWrite

from .layout import reset as key
from .table import TableModel, condition_failed

MAX_CHECKS = 5


class PendingReset(NamedTuple):
    email: str
    user_id: int
    code_hash: str
    checks: int  # including the one being made


class ResetItem(TableModel):
    user_id = NumberAttribute()
    code_hash = UnicodeAttribute()
    checks = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # the table's TTL attribute; also checked, as TTL deletes late


def put(email: str, user_id: int, code_hash: str, expires_at: int) -> None:
    """Store a new pending code for `email`, replacing any earlier one."""
    ResetItem(pk=key(email), user_id=user_id, code_hash=code_hash, checks=0, expires_at=expires_at).save()


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
    return PendingReset(email, int(item.user_id), item.code_hash, int(item.checks))


def burn(pending: PendingReset) -> None:
    """Delete a code that has had its last allowed check, unless a newer one replaced it."""
    try:
        ResetItem(pk=key(pending.email)).delete(condition=ResetItem.code_hash == pending.code_hash)
    except DeleteError as error:
        if not condition_failed(error):
            raise


def spend(transaction: TransactWrite, pending: PendingReset) -> None:
    """In `transaction`: delete the code, on condition that it is the one checked and no later check came."""
    transaction.delete(
        ResetItem(pk=key(pending.email)),
        condition=(ResetItem.code_hash == pending.code_hash) & (ResetItem.checks == pending.checks),
    )
