"""Attempt counters for the brute-force limits (`limits` is their one user).

One item per limit and subject, `limit#<limit>#<subject>`, counting the attempts of a
fixed window; DynamoDB deletes it by TTL (`expires_at`) once the window has ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import UpdateError

from .table import TableModel, condition_failed


@dataclass(frozen=True)
class Attempts:
    count: int
    window_ends_at: int  # epoch seconds


class AttemptItem(TableModel):
    attempts = NumberAttribute(default=0)
    window_ends_at = NumberAttribute()
    expires_at = NumberAttribute()  # the table's TTL attribute: DynamoDB deletes the item after it


def count_attempt(key: str, window_seconds: int, now: int) -> Attempts:
    """Add one attempt to the window open for `key`, opening one if none is; atomic under concurrency.

    One write whether a window was open or not (so its time tells nothing of earlier
    attempts): it adds the attempt and sets the window's end only where none is set yet, on
    condition that no item exists or its window is still open, and answers the counts it
    leaves. Only an ended window that DynamoDB's TTL has not deleted yet takes a second
    write, which opens a new one.
    """
    item = AttemptItem(pk=key)
    ends_at = now + window_seconds
    try:
        item.update(
            actions=[
                AttemptItem.attempts.add(1),
                AttemptItem.window_ends_at.set(AttemptItem.window_ends_at | ends_at),
                AttemptItem.expires_at.set(AttemptItem.expires_at | ends_at),
            ],
            condition=AttemptItem.pk.does_not_exist() | (AttemptItem.window_ends_at > now),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise
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
            if not condition_failed(race):
                raise
            # A concurrent attempt opened the new window first: count this one in it.
            item.update(actions=[AttemptItem.attempts.add(1)])
    return Attempts(count=int(item.attempts), window_ends_at=int(item.window_ends_at))


def uncount_attempt(key: str) -> None:
    """Take one attempt back from the window open for `key`, if any remain in it."""
    try:
        AttemptItem(pk=key).update(actions=[AttemptItem.attempts.add(-1)], condition=AttemptItem.attempts > 0)
    except UpdateError as error:
        if not condition_failed(error):
            raise


def clear_attempts(key: str) -> None:
    """Forget the attempts counted for `key`."""
    AttemptItem(pk=key).delete()
