"""Password hashing with argon2id, at or above OWASP's minimum (19 MiB, t=2, p=1)."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# The encoded hash records these parameters, so raising them later re-hashes old
# passwords at their owners' next login instead of locking anyone out.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)


def hash_password(password: str) -> str:
    """Return an encoded argon2id hash of `password`, with a fresh salt."""
    return _HASHER.hash(password)


def verify_password(encoded_hash: str, password: str) -> bool:
    """True when `password` matches `encoded_hash`; False for a mismatch or an unreadable hash."""
    try:
        return _HASHER.verify(encoded_hash, password)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):  # non-ASCII hash, unencodable password
        return False


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
    verify_password(_dummy_hash(), password)
