"""Input checks for signup and login, each failure an `InputError` naming its field."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, NamedTuple

from .errors import InputError

MAX_BODY_BYTES = 16 * 1024
MAX_EMAIL_LENGTH = 254
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128  # bounds the hashing work one request can ask for
MAX_NAME_LENGTH = 200

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"  # local part
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",  # domain with a TLD
    re.IGNORECASE | re.ASCII,  # ASCII: else ignoring case matches U+017F to s, U+0131 to i
)


class SignupInput(NamedTuple):
    email: str
    password: str
    name: str


class LoginInput(NamedTuple):
    email: str
    password: str


class PasswordChangeInput(NamedTuple):
    current_password: str
    new_password: str


class ResetConfirmInput(NamedTuple):
    email: str
    code: str
    new_password: str


LOGOUT_SCOPES = ("local", "others", "global")
MAX_CODE_LENGTH = 64


def json_object(body: str | bytes | None) -> dict[str, Any]:
    """Parse a request body that must be a JSON object of bounded size."""
    if body is None or body == "" or body == b"":
        raise InputError("The request body must be a JSON object.")
    # surrogatepass: a lone surrogate reads like its \u escape, and the field checks refuse it
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise InputError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise InputError("The request body must be a JSON object.")
    return document


def _has_control_characters(text: str) -> bool:
    # Cc: NUL and the other control characters; Cs: lone surrogates, which are not storable text.
    return any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


def _text(document: dict[str, Any], param: str, required: bool, max_length: int) -> str:
    value = document.get(param)
    if value is None:
        if required:
            raise InputError(f"Missing param: {param}", param)
        return ""
    if not isinstance(value, str):
        raise InputError(f"Invalid value for param: {param}. It must be text.", param)
    if len(value) > max_length:
        raise InputError(f"Invalid value for param: {param}. It is longer than {max_length} characters.", param)
    if _has_control_characters(value):
        raise InputError(f"Invalid value for param: {param}. It contains control characters.", param)
    return value


def normalize_email(email: str) -> str:
    """Xano's trim|lower: the form in which every address is stored and looked up."""
    return email.strip().lower()


def _email(document: dict[str, Any]) -> str:
    email = normalize_email(_text(document, "email", required=True, max_length=MAX_EMAIL_LENGTH + 64))
    if not email:
        raise InputError("Missing param: email", "email")
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        raise InputError("Invalid value for param: email. It is not a valid email address.", "email")
    return email


def _password(document: dict[str, Any], param: str = "password") -> str:
    password = _text(document, param, required=True, max_length=MAX_PASSWORD_LENGTH)
    if not password:
        raise InputError(f"Missing param: {param}", param)
    return password


def _new_password(document: dict[str, Any], param: str) -> str:
    """A password a user chooses: at least MIN_PASSWORD_LENGTH characters, a letter and a digit."""
    password = _password(document, param)
    if (
        len(password) < MIN_PASSWORD_LENGTH
        or not any(char.isalpha() for char in password)
        or not any(char.isdigit() for char in password)
    ):
        raise InputError(
            f"Invalid value for param: {param}. It needs at least {MIN_PASSWORD_LENGTH} characters, "
            "with at least one letter and one number.",
            param,
        )
    return password


def signup_input(document: dict[str, Any]) -> SignupInput:
    """Check a signup body: a valid email, a password meeting the policy, an optional name."""
    name = _text(document, "name", required=False, max_length=MAX_NAME_LENGTH)
    email = _email(document)
    return SignupInput(email=email, password=_new_password(document, "password"), name=name)


def login_input(document: dict[str, Any]) -> LoginInput:
    """Check a login body: an email and a password. The signup policy is not applied here."""
    return LoginInput(email=_email(document), password=_password(document))


def logout_input(document: dict[str, Any]) -> str:
    """Check a logout body: an optional scope, `local` (this session) by default."""
    scope = _text(document, "scope", required=False, max_length=16) or "local"
    if scope not in LOGOUT_SCOPES:
        raise InputError(f"Invalid value for param: scope. It is one of {', '.join(LOGOUT_SCOPES)}.", "scope")
    return scope


def password_change_input(document: dict[str, Any]) -> PasswordChangeInput:
    """Check a password change: the current password, and a new one meeting the signup policy."""
    return PasswordChangeInput(_password(document, "current_password"), _new_password(document, "new_password"))


def reset_request_input(document: dict[str, Any]) -> str:
    """Check a password reset request: a valid email, in its normal form."""
    return _email(document)


def reset_confirm_input(document: dict[str, Any]) -> ResetConfirmInput:
    """Check a reset confirmation: the email, the code it was sent, and a new password meeting the policy."""
    email = _email(document)
    code = _text(document, "code", required=True, max_length=MAX_CODE_LENGTH).strip()
    if not code:
        raise InputError("Missing param: code", "code")
    return ResetConfirmInput(email, code, _new_password(document, "new_password"))
