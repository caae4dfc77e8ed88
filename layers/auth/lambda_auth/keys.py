"""The JWK Set that encrypts tokens: parsed, validated, and reloaded on a bounded schedule.

The set lives in AWS Secrets Manager (AUTH_JWKS_SECRET_ARN) or, locally, in a file
(AUTH_JWKS_FILE). Every key in it verifies; the last key whose `issues_from` time (epoch
seconds, a member of the key's JWK) has come issues new tokens. Rotation appends a key
that issues only from when every function instance has read it (`keys_cache_seconds`
later, and a minute for clock skew), so no instance meets a token it cannot verify.

The secret is read with `secretsmanager`, a standard-library client, not boto3: the
authorizer reads it at cold start, where importing boto3 would cost more than the rest
of that cold start together.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jwcrypto import jwk
from jwcrypto.common import base64url_decode, base64url_encode

from . import settings

KEY_BYTES = 32  # A256KW wraps with a 256-bit key


class KeySetError(RuntimeError):
    """The configured key set is missing, unreadable or holds an unusable key."""


@dataclass(frozen=True)
class KeySet:
    """Keys by kid, in the order of the set: every key verifies, the last one whose time has come issues."""

    by_kid: dict[str, jwk.JWK]
    issues_from: dict[str, float] = field(default_factory=dict)  # by kid; a key without one issues at once

    def issuing_kid(self, now: float | None = None) -> str:
        """The kid of the key that issues tokens at `now` (the first key, if none has come yet)."""
        moment = time.time() if now is None else now
        ready = [kid for kid in self.by_kid if self.issues_from.get(kid, 0) <= moment]
        return ready[-1] if ready else next(iter(self.by_kid))

    @property
    def current_kid(self) -> str:
        return self.issuing_kid()

    @property
    def current(self) -> jwk.JWK:
        return self.by_kid[self.current_kid]


def as_key_set(document: object) -> dict[str, Any]:
    """`document` as a JWK Set: a single bare JWK (a stack's first secret holds one) becomes a set of one."""
    if isinstance(document, dict) and "keys" not in document and "kty" in document:
        return {"keys": [document]}
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetError('the key set has no "keys" list')
    return document


def parse_key_set(text: str) -> KeySet:
    """Parse a JWK Set (or a single JWK) of 256-bit `oct` keys, each with a unique kid."""
    try:
        document = json.loads(text)
    except ValueError:
        raise KeySetError("the key set is not JSON") from None
    entries = as_key_set(document)["keys"]
    if not entries:
        raise KeySetError('the key set has no "keys" list')
    by_kid: dict[str, jwk.JWK] = {}
    issues_from: dict[str, float] = {}
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("kty") != "oct":
            raise KeySetError(f"key {position} is not an oct key")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise KeySetError(f"key {position} has no kid")
        if kid in by_kid:
            raise KeySetError(f"kid {kid!r} appears twice")
        secret = entry.get("k")
        try:
            raw = base64url_decode(secret) if isinstance(secret, str) else b""
        except ValueError:
            raw = b""
        if len(raw) != KEY_BYTES:
            raise KeySetError(f"key {kid!r} is not a 256-bit key")
        by_kid[kid] = jwk.JWK(kty="oct", kid=kid, k=base64url_encode(raw))
        if "issues_from" in entry:
            moment = entry["issues_from"]
            if not isinstance(moment, int | float) or isinstance(moment, bool) or moment < 0:
                raise KeySetError(f"key {kid!r} has an issues_from that is not a time")
            issues_from[kid] = float(moment)
    return KeySet(by_kid=by_kid, issues_from=issues_from)


def new_key(kid: str | None = None) -> dict[str, str]:
    """A fresh 256-bit oct key as a JWK dict; its kid defaults to the creation time."""
    kid = kid or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return {"kty": "oct", "kid": kid, "k": jwk.JWK.generate(kty="oct", size=KEY_BYTES * 8).get("k")}


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise KeySetError(f"cannot read the key file {path}: {error.strerror}") from None


def _read_secret(arn: str) -> str:
    # Imported here: local runs and tests read a file and never need the HTTP client.
    from . import secretsmanager

    try:
        return secretsmanager.get_secret_string(arn)
    except secretsmanager.SecretsManagerError as error:
        raise KeySetError(str(error)) from None


def _same_key(old: jwk.JWK, new: jwk.JWK) -> bool:
    return hmac.compare_digest(str(old.get("k", "")), str(new.get("k", "")))


def carry_over(previous: KeySet | None, fresh: KeySet) -> KeySet:
    """`fresh`, with each key that `previous` already held unchanged kept as its very object.

    Verified tokens are remembered with the key object that decrypted them
    (`tokens.VerifiedTokenCache`); keeping the object keeps them valid across refreshes,
    while a key that was removed or replaced under its kid invalidates them.
    """
    if previous is None:
        return fresh
    by_kid = {
        kid: previous.by_kid[kid] if kid in previous.by_kid and _same_key(previous.by_kid[kid], key) else key
        for kid, key in fresh.by_kid.items()
    }
    return KeySet(by_kid=by_kid, issues_from=fresh.issues_from)


class KeyStore:
    """Loads the key set on first use and again once `max_age` seconds have passed."""

    def __init__(self, read: Callable[[], str], max_age: float, clock: Callable[[], float] = time.monotonic):
        self._read = read
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._digest: bytes | None = None  # of the text last parsed, to tell an unchanged set
        self._loaded_at = 0.0

    def get(self) -> KeySet:
        """The key set, read again first when it is older than `max_age`."""
        now = self._clock()
        keys = self._keys
        if keys is not None and now - self._loaded_at < self._max_age:
            return keys
        with self._lock:
            if self._keys is None or now - self._loaded_at >= self._max_age:
                try:
                    text = self._read()
                    digest = hashlib.sha256(text.encode()).digest()
                    if digest != self._digest or self._keys is None:  # unchanged: the same set, the same objects
                        self._keys = carry_over(self._keys, parse_key_set(text))
                        self._digest = digest
                except Exception:
                    if self._keys is None:
                        raise
                    # A failed refresh keeps the keys already held rather than
                    # refusing every token; the next refresh comes after max_age.
                self._loaded_at = now
            return self._keys

    @classmethod
    def from_settings(cls, configured: settings.KeySettings) -> KeyStore:
        if configured.jwks_secret_arn:
            arn = configured.jwks_secret_arn
            return cls(lambda: _read_secret(arn), configured.cache_seconds)
        path = configured.jwks_file or ""
        return cls(lambda: _read_file(path), configured.cache_seconds)


@functools.cache
def current_store() -> KeyStore:
    """The process's key store, built from its settings on first use."""
    return KeyStore.from_settings(settings.keys())
