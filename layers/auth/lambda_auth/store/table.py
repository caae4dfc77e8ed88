"""The one table every model lives in: its name, from settings, and how each call to it is bounded."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore import handlers as botocore_handlers
from pynamodb import settings as pynamodb_settings
from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection import Connection, TableConnection
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from .. import settings

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

# A request makes several calls (login up to five), so bounding each is not enough to end
# it inside the function's timeout: each request has a deadline, and an attempt to reach
# DynamoDB (a retry included) starts only if it can end before it.
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("dynamodb_deadline", default=None)


class DeadlineExceeded(RuntimeError):
    """The request has no time left for another DynamoDB attempt."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Calls to the table in this block start no attempt that could end after `seconds` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _check_deadline(**_: Any) -> None:
    ends_at = _deadline.get()
    if ends_at is not None and time.monotonic() + ATTEMPT_SECONDS > ends_at:
        raise DeadlineExceeded("no time left in this request for another DynamoDB attempt")


# botocore's own hook before each HTTP attempt, in every session created from here on
# (PynamoDB creates its sessions on first use).
botocore_handlers.BUILTIN_HANDLERS.append(("before-send.dynamodb", _check_deadline))


class _TableName:
    """The table's name, read from settings whenever a model asks for it (PynamoDB asks per connection)."""

    def __get__(self, instance: object, owner: type | None = None) -> str:
        return settings.table().name


class TableModel(Model):
    """The base of every item's model: the one table, its key `pk`, and one connection for all of them.

    PynamoDB gives each model class a connection, and each connection a botocore session of
    its own, which loads DynamoDB's service model again: about 70 ms of a cold start for each
    further model a request uses. The models share one table and one key schema, so they
    share the first connection made; PynamoDB has no public way to say so.
    """

    class Meta:
        table_name = _TableName()
        connect_timeout_seconds = CONNECT_TIMEOUT_SECONDS
        read_timeout_seconds = READ_TIMEOUT_SECONDS
        max_retry_attempts = MAX_RETRY_ATTEMPTS

    pk = UnicodeAttribute(hash_key=True)

    @classmethod
    def _get_connection(cls) -> TableConnection:
        if cls is not TableModel:
            return TableModel._get_connection()
        return super()._get_connection()


def connection() -> Connection:
    """The models' connection, for transactions."""
    return TableModel._get_connection().connection


def transaction() -> TransactWrite:
    """A write of several items, all or none; its request token makes a retried commit idempotent."""
    return TransactWrite(connection=connection(), client_request_token=str(uuid.uuid4()))


def transaction_refused(error: PynamoDBException) -> bool:
    """Whether a transaction was cancelled because a condition of one of its writes did not hold."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    refused = error.cause_response_code == "TransactionCanceledException"
    return refused and any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons)


def transaction_conflicted(error: PynamoDBException) -> bool:
    """Whether a transaction was cancelled because another one was writing one of its items (try it again)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    cancelled = error.cause_response_code == "TransactionCanceledException"
    return cancelled and any(reason is not None and reason.code == "TransactionConflict" for reason in reasons)


def condition_failed(error: PynamoDBException) -> bool:
    """Whether a conditional write was refused because its condition did not hold."""
    return error.cause_response_code == "ConditionalCheckFailedException"
