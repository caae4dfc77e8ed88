"""The domain: signup and login, as Xano's auth endpoints define them.

Plain Python in and out; errors are the typed ones in `errors`. The profile that
/auth/me returns is in `profiles`, so that the me function imports none of this.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import keys, limits, passwords, settings, tokens
from .errors import ACCOUNT_IN_USE, INVALID_CREDENTIALS, AccessDenied
from .observability import logger, metrics
from .store import users
from .validation import login_input, signup_input

# Read once per cold start: a missing setting fails the import, naming the variable.
settings.table()
_token_settings = settings.tokens()
_limits = settings.limits()
keys.current_store()

LOGIN_PER_EMAIL = limits.Limit("login-email", _limits.login_max_failures_per_email, _limits.login_window_seconds)
LOGIN_PER_IP = limits.Limit("login-ip", _limits.login_max_failures_per_ip, _limits.login_window_seconds)
SIGNUP_PER_IP = limits.Limit("signup-ip", _limits.signup_max_per_ip, _limits.signup_window_seconds)


def _token_for(user_id: int, extras: dict[str, Any] | None = None) -> str:
    return tokens.issue(keys.current_store().get(), user_id, _token_settings.ttl_seconds, extras)


def signup(document: dict[str, Any], source_ip: str | None = None) -> str:
    """Create a user from a signup body and return an auth token for them.

    Each source IP may attempt a limited number of signups per window.
    """
    request = signup_input(document)
    if source_ip:
        limits.reserve([(SIGNUP_PER_IP, limits.address(source_ip))], time.time())
    password_hash = passwords.hash_password(request.password)
    try:
        user = users.create_user(request.email, request.name, password_hash, int(time.time() * 1000))
    except users.EmailInUse:
        metrics.add_metric(name="SignupRejected", unit=MetricUnit.Count, value=1)
        raise AccessDenied(ACCOUNT_IN_USE) from None
    metrics.add_metric(name="Signup", unit=MetricUnit.Count, value=1)
    logger.info("user signed up", extra={"user_id": user.id})
    return _token_for(user.id)


def login(document: dict[str, Any], source_ip: str | None = None) -> str:
    """Check a login body's credentials and return an auth token for their user.

    Failures are counted per email and per source IP; past either limit, login is
    refused without looking at the password until the window ends. Each attempt is
    counted before the password is checked, and taken back when it succeeds.
    """
    request = login_input(document)
    checks: list[limits.Check] = [(LOGIN_PER_EMAIL, request.email)]
    if source_ip:
        checks.append((LOGIN_PER_IP, limits.address(source_ip)))
    limits.reserve(checks, time.time())
    credentials = users.get_credentials(request.email)
    if credentials is None:
        passwords.burn_verification(request.password)  # as slow as a wrong password
        verdict = passwords.Check(accepted=False, rehash=False)
    else:
        verdict = passwords.check_password(credentials.password_hash, request.password)
    if credentials is None or not verdict.accepted:
        metrics.add_metric(name="LoginFailed", unit=MetricUnit.Count, value=1)
        raise AccessDenied(INVALID_CREDENTIALS)
    limits.clear(checks[0])  # the owner got in: earlier failures no longer count against them
    for check in checks[1:]:
        limits.release(check)  # a success is not a failure from that address
    if verdict.rehash:
        users.replace_password_hash(request.email, credentials.user_id, passwords.hash_password(request.password))
    metrics.add_metric(name="Login", unit=MetricUnit.Count, value=1)
    logger.info("user logged in", extra={"user_id": credentials.user_id})
    return _token_for(credentials.user_id)
