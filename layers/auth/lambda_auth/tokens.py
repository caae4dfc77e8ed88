"""Auth tokens: compact JWE, A256KW + A256CBC-HS512, as Xano issues them.

Verification is strict: the header must be exactly what `issue` writes (no zip, no
other alg or enc, a known kid), the claims well-typed, the token unexpired.

`VerifiedTokenCache` remembers what `verify` accepted, so that the authorizer, which
runs before every authenticated request, decrypts each token once per function instance.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from jwcrypto import jwe, jwk
from jwcrypto.common import base64url_decode, base64url_encode

from .errors import Unauthorized
from .keys import KeySet

ALG = "A256KW"
ENC = "A256CBC-HS512"
MAX_TOKEN_LENGTH = 4096  # checked before any parsing; real tokens are a few hundred bytes
CLOCK_LEEWAY_SECONDS = 60  # tolerated clock skew for iat and nbf
MAX_USER_ID = 2**53 - 1  # ids stay exact in JavaScript
DEFAULT_CACHE_ENTRIES = 10_000  # a few MB at most: a token and its claims are well under 1 KiB

_COMPACT_JWE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_ALLOWED_HEADER = {"alg", "enc", "kid", "typ", "cty"}


@dataclass(frozen=True)
class Claims:
    """What a verified token says: whose it is and until when."""

    user_id: int
    issued_at: int
    expires_at: int
    extras: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None  # the `sid` claim: the sign-in session the token belongs to


def issue(
    keys: KeySet,
    user_id: int,
    ttl_seconds: int,
    extras: dict[str, Any] | None = None,
    now: float | None = None,
    session_id: str | None = None,
) -> str:
    """Encrypt a token for `user_id` that expires `ttl_seconds` from now, with the key that issues now.

    Xano's claims (`id`, `extras`, `iat`, `exp`), and `sid` naming the token's session.
    """
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"id": user_id, "extras": extras or {}, "iat": issued_at, "exp": issued_at + ttl_seconds}
    if session_id is not None:
        claims["sid"] = session_id
    kid = keys.issuing_kid(issued_at)
    header = {"alg": ALG, "enc": ENC, "kid": kid}
    token = jwe.JWE(
        plaintext=json.dumps(claims, separators=(",", ":")).encode(),
        protected=json.dumps(header, separators=(",", ":")),
    )
    token.add_recipient(keys.by_kid[kid])
    return str(token.serialize(compact=True))


def _canonical_segments(token: str) -> bytes:
    """The decoded protected header, once every segment is checked to be canonical base64url.

    base64url's last character can carry spare low bits; a decoder ignores them, so several
    strings decode to the same bytes. Only the one spelling `issue` writes is accepted: one
    token, one string, which is what the verified-token cache and revocation key on.
    """
    decoded: list[bytes] = []
    for segment in token.split("."):
        try:
            raw: bytes = base64url_decode(segment)
        except ValueError:
            raise Unauthorized("a segment is not base64url") from None
        if base64url_encode(raw) != segment:
            raise Unauthorized("a segment is not in canonical base64url")
        decoded.append(raw)
    return decoded[0]


def _protected_header(token: str) -> dict[str, Any]:
    try:
        header = json.loads(_canonical_segments(token))
    except (ValueError, RecursionError):  # RecursionError: JSON nested past the parser's depth
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


# One JWE object per thread, reused: a new one deep-copies jwcrypto's header registry,
# which costs about as much as the decryption itself. `deserialize` resets the object
# (jwcrypto documents that it "destroys any current status"), and `_decrypt` clears it
# after use, so nothing of one token outlives its verification.
_decryptors = threading.local()


def _decryptor() -> jwe.JWE:
    decryptor: jwe.JWE | None = getattr(_decryptors, "jwe", None)
    if decryptor is None:
        decryptor = jwe.JWE()
        decryptor.allowed_algs = [ALG, ENC]
        _decryptors.jwe = decryptor
    return decryptor


def _decrypt(token: str, key: jwk.JWK) -> object:
    decryptor = _decryptor()
    try:
        decryptor.deserialize(token, key=key)
        return json.loads(decryptor.payload)
    except Exception:  # jwcrypto raises several types for tampered input; all mean the same here
        raise Unauthorized("decryption failed") from None
    finally:
        decryptor.objects, decryptor.plaintext, decryptor.cek = {}, None, None


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token `verify` accepted, and what decides whether it still would."""

    claims: Claims
    valid_from: float  # the earliest time iat and nbf allow, leeway included
    kid: str
    key: jwk.JWK  # the very key object that decrypted the token


def _verified(keys: KeySet, token: str, now: float) -> _Verified:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized("token missing or too long")
    if not _COMPACT_JWE.fullmatch(token):
        raise Unauthorized("not a compact JWE")
    kid = _protected_header(token).get("kid")
    if not isinstance(kid, str) or (key := keys.by_kid.get(kid)) is None:
        raise Unauthorized("unknown kid")
    claims, valid_from = _checked_claims(_decrypt(token, key), now)
    return _Verified(claims, valid_from, kid, key)


def verify(keys: KeySet, token: str, now: float | None = None) -> Claims:
    """Decrypt and check `token`; raise `Unauthorized` for anything but a valid, unexpired token."""
    return _verified(keys, token, time.time() if now is None else now).claims


class VerifiedTokenCache:
    """The claims of tokens that `verify` accepted, keyed by the exact token string.

    A cached token is accepted again only inside the time window its claims allow
    (exp, and iat and nbf with their leeway) and while the key that decrypted it is
    still in the key set under the same kid, as the same object (the key store keeps a
    key's object for as long as the key is unchanged). Every other check `verify` makes
    is of the token's text, which is the cache key; so the cache never accepts a token
    that `verify` would refuse at that moment. Refusals are not cached. At most
    `max_entries` tokens are kept; the oldest goes first. Hits share one Claims object:
    callers treat it, extras included, as read-only.
    """

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max_entries = max_entries
        self._entries: dict[str, _Verified] = {}  # in insertion order, so the first is the oldest
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, token: object) -> bool:
        return token in self._entries

    def verify(self, keys: KeySet, token: str, now: float | None = None) -> Claims:
        """`tokens.verify`, answered from the cache when the token was accepted before."""
        if now is None:
            now = time.time()
        # The length check comes first, as in `verify`: an oversized string is not even hashed.
        entry = self._entries.get(token) if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH else None
        if entry is not None:
            if entry.valid_from <= now < entry.claims.expires_at and keys.by_kid.get(entry.kid) is entry.key:
                return entry.claims
            with self._lock:
                self._entries.pop(token, None)  # out of its time, or its key is gone: verify in full
        verified = _verified(keys, token, now)
        with self._lock:  # eviction iterates the dict: every change to it holds the lock
            while len(self._entries) >= self._max_entries and token not in self._entries:
                del self._entries[next(iter(self._entries))]
            self._entries[token] = verified
        return verified.claims

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._entries.clear()


def _checked_claims(claims: object, now: float) -> tuple[Claims, float]:
    """The claims, and the earliest time at which iat and nbf accept them; `Unauthorized` otherwise."""
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
    session_id = claims.get("sid")
    if session_id is not None and (not isinstance(session_id, str) or not session_id):
        raise Unauthorized("sid is not a session id")
    if expires_at <= now:
        raise Unauthorized("expired")
    if issued_at > now + CLOCK_LEEWAY_SECONDS:
        raise Unauthorized("issued in the future")
    not_before = claims.get("nbf")
    if not_before is not None and (not _is_integer(not_before) or not_before > now + CLOCK_LEEWAY_SECONDS):
        raise Unauthorized("not yet valid")
    earliest = issued_at if not_before is None else max(issued_at, not_before)
    valid_from = earliest - CLOCK_LEEWAY_SECONDS
    claimed = Claims(user_id=user_id, issued_at=issued_at, expires_at=expires_at, extras=extras, session_id=session_id)
    return claimed, valid_from
