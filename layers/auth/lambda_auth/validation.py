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

# openapi.yaml states each rule below as a JSON Schema `pattern`; tests hold the two to one another.
# An address as a mail server takes it without SMTPUTF8 (RFC 5321), which Amazon SES, the mailer,
# does not offer: an ASCII dot-atom local part of at most 64 characters, and a domain of LDH labels
# with a TLD of letters or an IDNA A-label (`xn--p1ai`). A non-ASCII address could sign up but never
# get its reset code, so it is refused; an IDN domain is sent in its punycode form.
_EMAIL = re.compile(
    r"(?![^@]{65})"  # the local part's length
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"  # local part, a dot-atom
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"  # domain labels
    r"(?:[A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{0,58}[A-Za-z0-9])",  # the TLD
    re.ASCII,
)
# Password rules stated in ASCII so that every JSON Schema dialect (ECMA-262 and Python's) reads
# them alike: a Unicode letter class has no portable regex.
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")
RESET_CODE_DIGITS = 8  # reset_mail.CODE_DIGITS, which a test holds it to
_RESET_CODE = re.compile(f"[0-9]{{{RESET_CODE_DIGITS}}}")


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
    """At most MAX_EMAIL_LENGTH characters as sent, spaces around it included (Xano's trim)."""
    email = _text(document, "email", required=True, max_length=MAX_EMAIL_LENGTH).strip(" ")
    if not email:
        raise InputError("Missing param: email", "email")
    if not _EMAIL.fullmatch(email):
        raise InputError("Invalid value for param: email. It is not a valid email address.", "email")
    return normalize_email(email)


def _password(document: dict[str, Any], param: str = "password") -> str:
    password = _text(document, param, required=True, max_length=MAX_PASSWORD_LENGTH)
    if not password:
        raise InputError(f"Missing param: {param}", param)
    return password


def _new_password(document: dict[str, Any], param: str) -> str:
    """A password a user chooses: at least MIN_PASSWORD_LENGTH characters, an ASCII letter and digit."""
    password = _password(document, param)
    if len(password) < MIN_PASSWORD_LENGTH or not _LETTER.search(password) or not _DIGIT.search(password):
        raise InputError(
            f"Invalid value for param: {param}. It needs at least {MIN_PASSWORD_LENGTH} characters, "
            "with at least one letter (A to Z) and one digit (0 to 9).",
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
    """Check a logout body: an optional scope (absent or null), `local` (this session) by default."""
    if document.get("scope") is None:
        return "local"
    scope = document["scope"]
    if not isinstance(scope, str) or scope not in LOGOUT_SCOPES:
        raise InputError(f"Invalid value for param: scope. It is one of {', '.join(LOGOUT_SCOPES)}.", "scope")
    return scope


def password_change_input(document: dict[str, Any]) -> PasswordChangeInput:
    """Check a password change: the current password, and a new one meeting the signup policy."""
    return PasswordChangeInput(_password(document, "current_password"), _new_password(document, "new_password"))


def reset_request_input(document: dict[str, Any]) -> str:
    """Check a password reset request: a valid email, in its normal form."""
    return _email(document)


def reset_confirm_input(document: dict[str, Any]) -> ResetConfirmInput:
    """Check a reset confirmation: the email, the code it was sent (8 digits), and a new password meeting the policy."""
    email = _email(document)
    code = _text(document, "code", required=True, max_length=RESET_CODE_DIGITS)
    if not code:
        raise InputError("Missing param: code", "code")
    if not _RESET_CODE.fullmatch(code):
        raise InputError(f"Invalid value for param: code. It is the {RESET_CODE_DIGITS} digits of the email.", "code")
    return ResetConfirmInput(email, code, _new_password(document, "new_password"))
