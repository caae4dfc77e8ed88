"""The domain of the routes that check or set a password: signup and login, as Xano's auth
endpoints define them, and a password change, and a reset with an emailed code.

Plain Python in and out; errors are the typed ones in `errors`. The profile that
/auth/me returns is in `profiles`, logout in `logout`, and a reset's request and email in
`reset_request` and `reset_mail`, so that those functions import none of this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

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


class Verified(NamedTuple):
    """A password check that passed: the credentials it verified, whether their hash should be
    made again, and the limits it was counted against (`_counted_success` settles them)."""

    credentials: users.Credentials
    rehash: bool
    checks: list[limits.Check]


def _checked_password(email: str, password: str, source_ip: str | None) -> Verified:
    """The credentials of `email` when `password` is theirs, and whether their hash should be made again.

    Failures are counted per email and per source IP; past either limit, the password is
    not looked at until the window ends. Each attempt is counted before the password is
    checked, and taken back (`_counted_success`) once what it was for is written. A wrong
    password and an unknown email take the same time and get the same `AccessDenied`.
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
    return Verified(credentials, verdict.rehash, checks)


def _counted_success(checks: list[limits.Check]) -> None:
    """Settle the limits of an attempt that succeeded: the first check's subject (an email) has
    its earlier failures forgotten; the others (source addresses) get the attempt back."""
    limits.clear(checks[0])  # the owner got in: earlier failures no longer count against them
    for check in checks[1:]:
        limits.release(check)  # a success is not a failure from that address


def login(document: dict[str, Any], source_ip: str | None = None) -> str:
    """Check a login body's credentials and return an auth token for their user, in a new session.

    The session is recorded (and an outdated hash replaced) in one transaction, on condition
    that the email's credentials are still those the password was checked against: a password
    change or reset that lands after the check wins, and the login is `Invalid Credentials.`
    """
    request = login_input(document)
    verified = _checked_password(request.email, request.password, source_ip)
    new_hash = passwords.hash_password(request.password) if verified.rehash else None
    session = _signed_in(request.email, verified.credentials, new_hash)
    _counted_success(verified.checks)
    metrics.add_metric(name="Login", unit=MetricUnit.Count, value=1)
    logger.info("user logged in", extra={"user_id": session.user_id})
    return signin.token_for(session, now=session.created_at)


SIGN_IN_ATTEMPTS = 3  # a try fails only when the user's sessions item was created or deleted, or written, meanwhile


def _signed_in(email: str, verified: users.Credentials, new_hash: str | None) -> sessions.Session:
    """A new session of `verified`'s user, recorded on condition that `email` still has the
    credentials `verified` (in one transaction that also stores `new_hash`, a re-hash, if given).

    `AccessDenied` when they changed since the password was checked. A refusal that finds the
    session recorded is a retry of an attempt that committed (its answer lost): the session began.
    """
    for attempt in range(1, SIGN_IN_ATTEMPTS + 1):
        known = sessions.recorded(verified.user_id)
        session = signin.new_session(verified.user_id)
        try:
            with table.transaction() as transaction:
                if new_hash is None:
                    users.require_unchanged(transaction, email, verified)
                else:
                    users.replace_password_hash(transaction, email, verified, new_hash)
                sessions.begin(transaction, session, known)
        except TransactWriteError as error:
            if not (table.transaction_refused(error) or table.transaction_conflicted(error)):
                raise
            if sessions.is_live(verified.user_id, session.id):
                return session
            if users.get_credentials(email) != verified:
                metrics.add_metric(name="LoginFailed", unit=MetricUnit.Count, value=1)
                raise AccessDenied(INVALID_CREDENTIALS) from None  # changed or reset since the check
            if attempt == SIGN_IN_ATTEMPTS:
                raise
            continue
        return session
    raise AssertionError("unreachable")  # the last attempt returns or raises


def change_password(user_id: int, session_id: str, document: dict[str, Any], source_ip: str | None = None) -> str:
    """Set a new password for the user, given the current one; end every other session of theirs.

    A wrong current password counts against the login limits and is `Invalid Credentials.`
    The session goes on under a new id, so the tokens issued before are refused; the answer
    is a token of the new id. The password and the sessions change together or not at all,
    on condition that this session is still live (a logout of it wins: 401) and the hash is
    still the one the current password was checked against (a reset wins: the session has
    ended, 401; a login's re-hash of the same password: 403, try again).
    """
    request = password_change_input(document)
    user = users.get_user(user_id)
    current = next((session for session in sessions.of(user_id) if session.id == session_id), None)
    if user is None or current is None:
        raise Unauthorized("the token's user or session is gone")
    verified = _checked_password(user.email, request.current_password, source_ip)
    new_hash = passwords.hash_password(request.new_password)
    successor = signin.successor(current)

    def write(transaction: TransactWrite) -> None:
        credentials = verified.credentials
        users.set_password(transaction, user.email, credentials.user_id, new_hash, replacing=credentials.password_hash)
        sessions.keep_only(transaction, successor, while_live=current.id)

    if not _password_set(user.email, new_hash, write):
        if not sessions.is_live(user_id, current.id):
            raise Unauthorized("the session ended while the password changed")
        raise AccessDenied(INVALID_CREDENTIALS)  # the hash changed since it was checked
    _counted_success(verified.checks)
    metrics.add_metric(name="PasswordChanged", unit=MetricUnit.Count, value=1)
    logger.info("user changed their password", extra={"user_id": user_id})
    return signin.token_for(successor)


def confirm_reset(document: dict[str, Any], source_ip: str | None = None) -> str:
    """Set a new password with a reset code; end every session of the user and begin a new one.

    Every refusal is the same `AccessDenied`: an email without a pending code, a wrong code,
    one spent, burnt (it has had its `resets.MAX_CHECKS` checks) or expired. Guesses count
    against the login limit of their source address, and at most `resets.MAX_CHECKS` per
    code; a right code whose check was let in is spent, whatever checks came meanwhile. A
    reset proves control of the mailbox, so it also lifts the email's login lockout.
    """
    request = reset_confirm_input(document)
    checks: list[limits.Check] = [(LOGIN_PER_IP, limits.address(source_ip))] if source_ip else []
    limits.reserve(checks, time.time())
    pending = resets.check(request.email, int(time.time()))
    if pending is None:
        passwords.burn_verification(request.code)  # as slow as a wrong code
        raise AccessDenied(INVALID_CODE)
    if not passwords.verify_password(pending.code_hash, request.code):
        metrics.add_metric(name="ResetCodeRefused", unit=MetricUnit.Count, value=1)
        raise AccessDenied(INVALID_CODE)
    new_hash = passwords.hash_password(request.new_password)
    session = signin.new_session(pending.user_id)

    def write(transaction: TransactWrite) -> None:
        resets.spend(transaction, pending)
        users.set_password(transaction, request.email, pending.user_id, new_hash)
        sessions.keep_only(transaction, session, while_live=None)

    if not _password_set(request.email, new_hash, write):
        raise AccessDenied(INVALID_CODE)  # spent or replaced meanwhile, or the account changed hands
    _counted_success([(LOGIN_PER_EMAIL, request.email), *checks])
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
