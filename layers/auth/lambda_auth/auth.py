"""The domain of the routes that check or set a password: signup and login, as Xano's auth
endpoints define them, and a password change, and a reset with an emailed code.

Plain Python in and out; errors are the typed ones in `errors`. The profile that
/auth/me returns is in `profiles`, logout in `logout`, and a reset's request and email in
`reset_request` and `reset_mail`, so that those functions import none of this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from . import keys, limits, passwords, settings, signin
from .errors import ACCOUNT_IN_USE, INVALID_CODE, INVALID_CREDENTIALS, AccessDenied, Unauthorized
from .observability import logger, metrics
from .store import resets, sessions, table, users
from .validation import login_input, password_change_input, reset_confirm_input, signup_input

# Read once per cold start: a missing setting fails the import, naming the variable.
settings.table()
settings.tokens()
_limits = settings.limits()
keys.current_store()

LOGIN_PER_EMAIL = limits.Limit("login-email", _limits.login_max_failures_per_email, _limits.login_window_seconds)
LOGIN_PER_IP = limits.Limit("login-ip", _limits.login_max_failures_per_ip, _limits.login_window_seconds)
SIGNUP_PER_IP = limits.Limit("signup-ip", _limits.signup_max_per_ip, _limits.signup_window_seconds)


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
    return signin.start(user.id, first=True)


def _checked_password(email: str, password: str, source_ip: str | None) -> tuple[users.Credentials, bool]:
    """The credentials of `email` when `password` is theirs, and whether their hash should be made again.

    Failures are counted per email and per source IP; past either limit, the password is
    not looked at until the window ends. Each attempt is counted before the password is
    checked, and taken back when it succeeds. A wrong password and an unknown email take
    the same time and get the same `AccessDenied`.
    """
    checks: list[limits.Check] = [(LOGIN_PER_EMAIL, email)]
    if source_ip:
        checks.append((LOGIN_PER_IP, limits.address(source_ip)))
    limits.reserve(checks, time.time())
    credentials = users.get_credentials(email)
    if credentials is None:
        passwords.burn_verification(password)  # as slow as a wrong password
        verdict = passwords.Check(accepted=False, rehash=False)
    else:
        verdict = passwords.check_password(credentials.password_hash, password)
    if credentials is None or not verdict.accepted:
        metrics.add_metric(name="LoginFailed", unit=MetricUnit.Count, value=1)
        raise AccessDenied(INVALID_CREDENTIALS)
    limits.clear(checks[0])  # the owner got in: earlier failures no longer count against them
    for check in checks[1:]:
        limits.release(check)  # a success is not a failure from that address
    return credentials, verdict.rehash


def login(document: dict[str, Any], source_ip: str | None = None) -> str:
    """Check a login body's credentials and return an auth token for their user, in a new session."""
    request = login_input(document)
    credentials, rehash = _checked_password(request.email, request.password, source_ip)
    if rehash:
        users.replace_password_hash(request.email, credentials.user_id, passwords.hash_password(request.password))
    metrics.add_metric(name="Login", unit=MetricUnit.Count, value=1)
    logger.info("user logged in", extra={"user_id": credentials.user_id})
    return signin.start(credentials.user_id)


def change_password(user_id: int, session_id: str, document: dict[str, Any], source_ip: str | None = None) -> str:
    """Set a new password for the user, given the current one; end every other session of theirs.

    A wrong current password counts against the login limits and is `Invalid Credentials.`
    The answer is a fresh token for this session, which stays; the password and the other
    sessions change together or not at all.
    """
    request = password_change_input(document)
    user = users.get_user(user_id)
    current = next((session for session in sessions.of(user_id) if session.id == session_id), None)
    if user is None or current is None:
        raise Unauthorized("the token's user or session is gone")
    credentials, _ = _checked_password(user.email, request.current_password, source_ip)
    new_hash = passwords.hash_password(request.new_password)
    renewed = signin.renewed(current)

    def write(transaction: TransactWrite) -> None:
        users.set_password(transaction, user.email, credentials.user_id, new_hash)
        sessions.keep_only(transaction, renewed, must_be_live=True)

    if not _password_set(user.email, new_hash, write):
        raise Unauthorized("the session ended while the password changed")
    metrics.add_metric(name="PasswordChanged", unit=MetricUnit.Count, value=1)
    logger.info("user changed their password", extra={"user_id": user_id})
    return signin.token_for(renewed)


def confirm_reset(document: dict[str, Any], source_ip: str | None = None) -> str:
    """Set a new password with a reset code; end every session of the user and begin a new one.

    Every refusal is the same `AccessDenied`: an email without a pending code, a wrong code,
    one spent, burnt (its last allowed check was wrong) or expired. Guesses count against
    the login limit of their source address, and at most `resets.MAX_CHECKS` per code.
    """
    request = reset_confirm_input(document)
    checks: list[limits.Check] = [(LOGIN_PER_IP, limits.address(source_ip))] if source_ip else []
    limits.reserve(checks, time.time())
    pending = resets.check(request.email, int(time.time()))
    if pending is None:
        passwords.burn_verification(request.code)  # as slow as a wrong code
        raise AccessDenied(INVALID_CODE)
    if not passwords.verify_password(pending.code_hash, request.code):
        if pending.checks >= resets.MAX_CHECKS:
            resets.burn(pending)
        metrics.add_metric(name="ResetCodeRefused", unit=MetricUnit.Count, value=1)
        raise AccessDenied(INVALID_CODE)
    new_hash = passwords.hash_password(request.new_password)
    session = signin.new_session(pending.user_id)

    def write(transaction: TransactWrite) -> None:
        resets.spend(transaction, pending)
        users.set_password(transaction, request.email, pending.user_id, new_hash)
        sessions.keep_only(transaction, session, must_be_live=False)

    if not _password_set(request.email, new_hash, write):
        raise AccessDenied(INVALID_CODE)  # spent or replaced meanwhile, or the account changed hands
    for check in checks:
        limits.release(check)
    metrics.add_metric(name="PasswordReset", unit=MetricUnit.Count, value=1)
    logger.info("user reset their password", extra={"user_id": pending.user_id})
    return signin.token_for(session, now=session.created_at)


def _password_set(email: str, new_hash: str, write: Callable[[TransactWrite], None]) -> bool:
    """Commit `write`, a transaction that stores `new_hash` for `email`; whether it committed.

    False when a condition of it did not hold. A refusal that finds `new_hash` stored is a
    retry of an attempt that committed (its answer lost), so the write is done.
    """
    try:
        with table.transaction() as transaction:
            write(transaction)
    except TransactWriteError as error:
        if not table.transaction_refused(error):
            raise
        return users.has_password_hash(email, new_hash)
    return True
