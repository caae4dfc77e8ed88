"""The mailer: the password-reset code, made, stored and sent, for an email that has an account.

It runs after POST /auth/password-reset has answered (`reset_request`), so the time it
takes tells the requester nothing. For an email without an account it does nothing. Else it
makes a code of `CODE_DIGITS` random digits, stores its argon2 hash (never the code),
replacing any earlier code, for `AUTH_RESET_CODE_TTL_SECONDS`, and mails the code. The code
is written nowhere else: not in a log, not in an answer.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from . import mail, passwords, settings
from .observability import logger
from .store import resets, users
from .validation import normalize_email

# Read once per cold start: a missing setting fails the import, naming the variable.
settings.table()
settings.mail()
_reset = settings.password_reset()

CODE_DIGITS = 8


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
    """Handle one handed-over request, `{"email": ...}`: mail a new code if the email has an account."""
    email = normalize_email(str(event.get("email", "")))
    credentials = users.get_credentials(email)
    if credentials is None:
        logger.info("password reset for no account")
        return
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    expires_at = int(time.time()) + _reset.code_ttl_seconds
    resets.put(email, credentials.user_id, passwords.hash_password(code), expires_at)
    mail.send(message(email, code, expires_at))
    logger.info("password reset code sent", extra={"user_id": credentials.user_id})
