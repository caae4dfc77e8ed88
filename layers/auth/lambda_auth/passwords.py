"""Password hashing with argon2id, at or above OWASP's minimum (19 MiB, t=2, p=1).

Passwords are hashed and checked in Unicode's NFKC form (NIST SP 800-63B 5.1.1.2), so a
password typed as precomposed "ä" at signup matches one typed as "a" and a combining
diaeresis at login. ASCII is its own normal form. A hash made from a password as typed,
before passwords were normalised, still matches that password as typed: such a match is
re-hashed in the normal form.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from typing import NamedTuple

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# The encoded hash records these parameters, so raising them later re-hashes old
# passwords at their owners' next login instead of locking anyone out.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)


class Check(NamedTuple):
    """A password checked against a stored hash."""

    accepted: bool
    rehash: bool  # the stored hash should be replaced by `hash_password(password)`


def _forms(password: str) -> tuple[str, ...]:
    """The normal form, then the password as typed if that differs (what earlier hashes were made from)."""
    normal = unicodedata.normalize("NFKC", password)
    return (normal,) if normal == password else (normal, password)


def hash_password(password: str) -> str:
    """Return an encoded argon2id hash of `password` in its normal form, with a fresh salt."""
    return _HASHER.hash(_forms(password)[0])


def _verify(encoded_hash: str, form: str) -> bool:
    try:
        return _HASHER.verify(encoded_hash, form)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):  # non-ASCII hash, unencodable password
        return False


def check_password(encoded_hash: str, password: str) -> Check:
    """Whether `password` matches `encoded_hash`, and whether the hash should be made again.

    A wrong password costs one verification per form of it, as `burn_verification` does.
    """
    for position, form in enumerate(_forms(password)):
        if _verify(encoded_hash, form):
            return Check(accepted=True, rehash=position > 0 or needs_rehash(encoded_hash))
    return Check(accepted=False, rehash=False)


def verify_password(encoded_hash: str, password: str) -> bool:
    """True when `password` matches `encoded_hash`; False for a mismatch or an unreadable hash."""
    return check_password(encoded_hash, password).accepted


def needs_rehash(encoded_hash: str) -> bool:
    """True when the hash was made with other parameters than today's."""
    return _HASHER.check_needs_rehash(encoded_hash)


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(24))


def burn_verification(password: str) -> None:
    """Do the work of one verification against a hash nobody owns.

    Login calls it for an unknown email, so that answer takes as long as a wrong
    password and does not reveal which addresses have accounts.
    """
    check_password(_dummy_hash(), password)
