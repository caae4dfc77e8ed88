"""The one table every model lives in: its name, from settings, and how each call to it is bounded."""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore import handlers as botocore_handlers
from pynamodb import settings as pynamodb_settings
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException

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


class TableMeta:
    """Every model's Meta: the table from settings (AUTH_TABLE_NAME), the call bounds above."""

    table_name = _TableName()
    connect_timeout_seconds = CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds = READ_TIMEOUT_SECONDS
    max_retry_attempts = MAX_RETRY_ATTEMPTS


@functools.cache
def connection() -> Connection:
    """One client for transactions, reused across invocations like the models' own."""
    return Connection(
        connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds=READ_TIMEOUT_SECONDS,
        max_retry_attempts=MAX_RETRY_ATTEMPTS,
        retry_configuration=RETRY_CONFIGURATION,
    )


def condition_failed(error: PynamoDBException) -> bool:
    """Whether a conditional write was refused because its condition did not hold."""
    return error.cause_response_code == "ConditionalCheckFailedException"
