"""The domain: signup, login and profile, as Xano's auth endpoints define them.

Plain Python in and out; errors are the typed ones in `errors`.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import keys, passwords, tokens, users
from .errors import ACCOUNT_IN_USE, INVALID_CREDENTIALS, AccessDenied, Unauthorized
from .observability import logger, metrics
from .settings import current as current_settings
from .validation import login_input, signup_input

# Read once per cold start: a missing setting fails the import, naming the variable.
_settings = current_settings()
users.bind(_settings.table_name)


def _token_for(user_id: int, extras: dict[str, Any] | None = None) -> str:
    return tokens.issue(keys.current_store().get(), user_id, _settings.token_ttl_seconds, extras)


def signup(document: dict[str, Any]) -> str:
    """Create a user from a signup body and return an auth token for them."""
    request = signup_input(document)
    password_hash = passwords.hash_password(request.password)
    try:
        user = users.create_user(request.email, request.name, password_hash, int(time.time() * 1000))
    except users.EmailInUse:
        metrics.add_metric(name="SignupRejected", unit=MetricUnit.Count, value=1)
        raise AccessDenied(ACCOUNT_IN_USE) from None
    metrics.add_metric(name="Signup", unit=MetricUnit.Count, value=1)
    logger.info("user signed up", extra={"user_id": user.id})
    return _token_for(user.id)


def login(document: dict[str, Any]) -> str:
    """Check a login body's credentials and return an auth token for their user."""
    request = login_input(document)
    credentials = users.get_credentials(request.email)
    if credentials is None:
        passwords.burn_verification(request.password)  # as slow as a wrong password
        accepted = False
    else:
        accepted = passwords.verify_password(credentials.password_hash, request.password)
    if credentials is None or not accepted:
        metrics.add_metric(name="LoginFailed", unit=MetricUnit.Count, value=1)
        raise AccessDenied(INVALID_CREDENTIALS)
    if passwords.needs_rehash(credentials.password_hash):
        users.replace_password_hash(request.email, credentials.user_id, passwords.hash_password(request.password))
    metrics.add_metric(name="Login", unit=MetricUnit.Count, value=1)
    logger.info("user logged in", extra={"user_id": credentials.user_id})
    return _token_for(credentials.user_id)


def profile(user_id: int) -> dict[str, Any]:
    """The record /auth/me returns: exactly id, created_at, name and email."""
    user = users.get_user(user_id)
    if user is None:
        raise Unauthorized("the token's user no longer exists")
    return {"id": user.id, "created_at": user.created_at, "name": user.name, "email": user.email}
