"""The mailer: the password-reset code, made, stored and sent, for an email that has an account.

It runs after POST /auth/password-reset has answered (`reset_request`), so the time it
takes tells the requester nothing. For an email without an account it does nothing. Else it
makes the request's code of `CODE_DIGITS` digits, stores its argon2 hash (never the code),
replacing any earlier request's code, for `AUTH_RESET_CODE_TTL_SECONDS`, and mails the code.
The code is written nowhere else: not in a log, not in an answer, not in the event.

Lambda retries a failed invocation with the same event, so a request has one code however
often its mailing runs: the code is derived from the request's id and the email with
HMAC-SHA256, keyed with a key of the token key set (`keys`, the stack's secret), under a
label of its own; its hash is stored once per request id (`resets.put`), and a retry finds
it there and mails the same code again. The code is as unpredictable as the key is secret:
the request id travels in the event (and, after the last retry, in the failure queue), the
key never does.

Without a way to mail (AUTH_MAIL_SENDER in AWS, the stack's MailSenderAddress) the mailer
fails at import, logging the setting's name, so that every invocation fails: the mailer's
errors alarm, and after the retries the failure queue's alarm, say so.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, NamedTuple

from jwcrypto.common import base64url_decode

from . import keys, mail, passwords, settings
from .observability import logger
from .store import resets, users
from .validation import normalize_email

# Read once per cold start: a missing setting fails the import, naming the variable.
try:
    settings.table()
    settings.keys()
    settings.mail()
    _reset = settings.password_reset()
except settings.SettingsError as error:
    logger.error(f"the password-reset mailer cannot start: {error}")
    raise

CODE_DIGITS = 8
CODE_LABEL = b"lambda-auth password-reset code v1"  # keeps these HMACs apart from any other use of the key
MAX_REQUEST_ID_LENGTH = 64


class HandOverError(ValueError):
    """The event is not a reset request's hand-over; the message says what is wrong, never a value."""


class HandOver(NamedTuple):
    email: str
    request_id: str


def hand_over(event: object) -> HandOver:
    """The reset request's event, `{"email": ..., "request_id": ...}`, checked."""
    if not isinstance(event, dict):
        raise HandOverError("the mailer's event is not a JSON object")
    email, request_id = event.get("email"), event.get("request_id")
    if not isinstance(email, str) or not email.strip():
        raise HandOverError("the mailer's event has no email")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID_LENGTH:
        raise HandOverError("the mailer's event has no request_id")
    return HandOver(normalize_email(email), request_id)


def reset_code(key_set: keys.KeySet, kid: str, request_id: str, email: str) -> str:
    """The code of reset request `request_id` for `email`: HMAC-SHA256 under the key `kid`, as digits."""
    key = key_set.by_kid.get(kid)
    if key is None:
        raise keys.KeySetError(f"the key {kid!r} that made this request's code is no longer in the key set")
    secret = base64url_decode(str(key.get("k")))
    message = b"\x00".join([CODE_LABEL, request_id.encode(), email.encode()])
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return f"{int.from_bytes(digest, 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def message(email: str, code: str, expires_at: int) -> mail.Message:
    """The email: the code and when it expires, in plain text."""
    minutes = round(_reset.code_ttl_seconds / 60)
    until = time.strftime("%H:%M UTC", time.gmtime(expires_at))
    text = (
        f"Your password reset code is {code}.\n\n"
        f"It works once, for {minutes} minutes (until {until}). If you did not ask to reset your\n"
        "password, ignore this message: your password stays as it is.\n"
    )
    return mail.Message(to=email, subject="Your password reset code", text=text)


def send_code(event: dict[str, Any]) -> None:
    """Handle one handed-over request: mail its code if the email has an account (the same code on a retry)."""
    request = hand_over(event)
    credentials = users.get_credentials(request.email)
    if credentials is None:
        logger.info("password reset for no account")
        return
    key_set = keys.current_store().get()
    kid = key_set.current_kid
    code = reset_code(key_set, kid, request.request_id, request.email)
    expires_at = int(time.time()) + _reset.code_ttl_seconds
    code_hash = passwords.hash_password(code)
    stored = resets.put(request.email, credentials.user_id, code_hash, expires_at, request.request_id, kid)
    if stored is not None:
        if stored.request_id != request.request_id:
            logger.info("password reset replaced by a newer request", extra={"user_id": credentials.user_id})
            return
        # A retry: this request's code is stored already, perhaps derived with a key that issued then.
        code = reset_code(key_set, stored.key_id, request.request_id, request.email)
        expires_at = stored.expires_at
    mail.send(message(request.email, code, expires_at))
    logger.info("password reset code sent", extra={"user_id": credentials.user_id, "again": stored is not None})
