"""The domain of POST /auth/password-reset: count the request, and hand it to the mailer.

The answer is the same, and takes the same time, whether the email has an account or not:
this function looks nothing up. It counts the request against the reset limits (per email
and per source address) and hands the email to the mailer function (`reset_mail`) with one
asynchronous Lambda call, which returns before the mailer runs; the mailer alone finds out
whether there is an account to send a code to. The hand-over names the request with a
random id: Lambda retries a failed mailing with the same event, and the mailer makes one
code per request id however often it runs (`reset_mail`).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from . import aws, limits, settings
from .observability import logger
from .validation import reset_request_input

# Read once per cold start: a missing setting fails the import, naming the variable.
settings.table()
_limits = settings.limits()
MAILER = settings.password_reset().required_mailer()

RESET_PER_EMAIL = limits.Limit("reset-email", _limits.reset_max_per_email, _limits.reset_window_seconds)
RESET_PER_IP = limits.Limit("reset-ip", _limits.reset_max_per_ip, _limits.reset_window_seconds)


def request_reset(document: dict[str, Any], source_ip: str | None = None) -> dict[str, Any]:
    """Count a reset request and hand its email to the mailer; the answer is an empty object."""
    email = reset_request_input(document)
    checks: list[limits.Check] = [(RESET_PER_EMAIL, email)]
    if source_ip:
        checks.append((RESET_PER_IP, limits.address(source_ip)))
    limits.reserve(checks, time.time())
    hand_over(email)
    logger.info("password reset requested")
    return {}


def hand_over(email: str) -> None:
    """Invoke the mailer asynchronously (Lambda's Event invocation: 202, and the mailer runs later) with
    `{"email": ..., "request_id": ...}`, a fresh random id for this request (never the code)."""
    configured = settings.aws()
    event = {"email": email, "request_id": uuid.uuid4().hex}
    answer = aws.call(
        "lambda",
        aws.region_of(MAILER, configured),
        f"/2015-03-31/functions/{MAILER}/invocations",
        {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
        json.dumps(event).encode(),
        what="cannot hand the reset to the mailer",
        aws=configured,
        keep_alive=True,
    )
    if answer.status != 202:
        raise aws.AwsError(f"cannot hand the reset to the mailer: HTTP {answer.status}, {answer.error_type}")
