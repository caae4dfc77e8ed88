"""Auth tokens: compact JWE, A256KW + A256CBC-HS512, as Xano issues them.

Verification is strict: the header must be exactly what `issue` writes (no zip, no
other alg or enc, a known kid), the claims well-typed, the token unexpired.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from jwcrypto import jwe
from jwcrypto.common import base64url_decode

from .errors import Unauthorized
from .keys import KeySet

ALG = "A256KW"
ENC = "A256CBC-HS512"
MAX_TOKEN_LENGTH = 4096  # checked before any parsing; real tokens are a few hundred bytes
CLOCK_LEEWAY_SECONDS = 60  # tolerated clock skew for iat and nbf
MAX_USER_ID = 2**53 - 1  # ids stay exact in JavaScript

_COMPACT_JWE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_ALLOWED_HEADER = {"alg", "enc", "kid", "typ", "cty"}


@dataclass(frozen=True)
class Claims:
    """What a verified token says: whose it is and until when."""

    user_id: int
    issued_at: int
    expires_at: int
    extras: dict[str, Any] = field(default_factory=dict)


def issue(
    keys: KeySet, user_id: int, ttl_seconds: int, extras: dict[str, Any] | None = None, now: float | None = None
) -> str:
    """Encrypt a token for `user_id` that expires `ttl_seconds` from now, with the current key."""
    issued_at = int(time.time() if now is None else now)
    claims = {"id": user_id, "extras": extras or {}, "iat": issued_at, "exp": issued_at + ttl_seconds}
    header = {"alg": ALG, "enc": ENC, "kid": keys.current_kid}
    token = jwe.JWE(
        plaintext=json.dumps(claims, separators=(",", ":")).encode(),
        protected=json.dumps(header, separators=(",", ":")),
    )
    token.add_recipient(keys.current)
    return str(token.serialize(compact=True))


def _protected_header(token: str) -> dict[str, Any]:
    try:
        header = json.loads(base64url_decode(token.partition(".")[0]))
    except ValueError:
        raise Unauthorized("unreadable header") from None
    if not isinstance(header, dict):
        raise Unauthorized("header is not an object")
    if header.get("alg") != ALG or header.get("enc") != ENC:
        raise Unauthorized("algorithm not allowed")
    if not set(header) <= _ALLOWED_HEADER:
        raise Unauthorized("header has fields that are not allowed")  # zip and crit among them
    return header


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def verify(keys: KeySet, token: str, now: float | None = None) -> Claims:
    """Decrypt and check `token`; raise `Unauthorized` for anything but a valid, unexpired token."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized("token missing or too long")
    if not _COMPACT_JWE.fullmatch(token):
        raise Unauthorized("not a compact JWE")
    header = _protected_header(token)
    kid = header.get("kid")
    key = keys.by_kid.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise Unauthorized("unknown kid")
    decrypted = jwe.JWE()
    decrypted.allowed_algs = [ALG, ENC]
    try:
        decrypted.deserialize(token, key=key)
        claims = json.loads(decrypted.payload)
    except Exception:  # jwcrypto raises several types for tampered input; all mean the same here
        raise Unauthorized("decryption failed") from None
    return _checked_claims(claims, time.time() if now is None else now)


def _checked_claims(claims: object, now: float) -> Claims:
    if not isinstance(claims, dict):
        raise Unauthorized("claims are not an object")
    user_id, issued_at, expires_at = claims.get("id"), claims.get("iat"), claims.get("exp")
    extras = claims.get("extras", {})
    if not _is_integer(user_id) or not 0 < user_id <= MAX_USER_ID:
        raise Unauthorized("id is not a positive integer")
    if not _is_integer(issued_at) or not _is_integer(expires_at):
        raise Unauthorized("iat or exp is not an integer")
    if not isinstance(extras, dict):
        raise Unauthorized("extras is not an object")
    if expires_at <= now:
        raise Unauthorized("expired")
    if issued_at > now + CLOCK_LEEWAY_SECONDS:
        raise Unauthorized("issued in the future")
    not_before = claims.get("nbf")
    if not_before is not None and (not _is_integer(not_before) or not_before > now + CLOCK_LEEWAY_SECONDS):
        raise Unauthorized("not yet valid")
    return Claims(user_id=user_id, issued_at=issued_at, expires_at=expires_at, extras=extras)
