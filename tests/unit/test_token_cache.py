"""The authorizer's cache of verified tokens: a hit is never a token the full check would refuse.

Whether an answer came from the cache or from a decryption is told by counting the
decryptions (`tokens._decrypt`), never by timing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from jwcrypto import jwe, jwk

from lambda_auth import tokens
from lambda_auth.errors import Unauthorized
from lambda_auth.keys import KeySet, KeyStore, carry_over, new_key, parse_key_set

NOW = 1_800_000_000
TTL = 3600
OLD_KEY = new_key("old")
CURRENT_KEY = new_key("current")


def key_set(*keys: dict[str, str]) -> KeySet:
    return parse_key_set(json.dumps({"keys": list(keys)}))


@pytest.fixture
def keys() -> KeySet:
    return key_set(OLD_KEY, CURRENT_KEY)


@pytest.fixture
def cache() -> tokens.VerifiedTokenCache:
    return tokens.VerifiedTokenCache(max_entries=100)


@contextmanager
def refused(reason: str) -> Iterator[None]:
    """The block raises `Unauthorized` for `reason` (clients see one message; the reason is for logs)."""
    with pytest.raises(Unauthorized) as refusal:
        yield
    assert reason in refusal.value.reason


def encrypt(key: jwk.JWK, kid: str, claims: dict[str, Any]) -> str:
    """A token made with jwcrypto directly: any key, any kid in the header."""
    token = jwe.JWE(
        plaintext=json.dumps(claims).encode(),
        protected=json.dumps({"alg": tokens.ALG, "enc": tokens.ENC, "kid": kid}),
    )
    token.add_recipient(key)
    return str(token.serialize(compact=True))


def test_a_cached_token_is_accepted_again_without_a_second_decryption(
    keys: KeySet, cache: tokens.VerifiedTokenCache, decryptions: list[str]
) -> None:
    token = tokens.issue(keys, 42, TTL, {"role": "member"}, now=NOW)
    first = cache.verify(keys, token, now=NOW + 1)
    again = cache.verify(keys, token, now=NOW + 2)
    assert decryptions == [token]
    assert token in cache
    assert again == first == tokens.verify(keys, token, now=NOW + 2)


def test_a_token_that_expires_while_cached_is_refused(
    keys: KeySet, cache: tokens.VerifiedTokenCache, decryptions: list[str]
) -> None:
    token = tokens.issue(keys, 42, TTL, now=NOW)
    cache.verify(keys, token, now=NOW + TTL - 1)
    with refused("expired"):
        cache.verify(keys, token, now=NOW + TTL)
    assert token not in cache


def test_a_cached_token_is_refused_at_a_time_its_iat_does_not_allow(
    keys: KeySet, cache: tokens.VerifiedTokenCache
) -> None:
    # The full check allows iat up to the leeway ahead of the clock; so must a hit,
    # even if the clock has gone back since the token was cached.
    token = tokens.issue(keys, 42, TTL, now=NOW)
    cache.verify(keys, token, now=NOW)
    with refused("issued in the future"):
        cache.verify(keys, token, now=NOW - tokens.CLOCK_LEEWAY_SECONDS - 1)


def test_a_cached_token_is_refused_at_a_time_its_nbf_does_not_allow(
    keys: KeySet, cache: tokens.VerifiedTokenCache
) -> None:
    claims = {"id": 42, "extras": {}, "iat": NOW, "nbf": NOW + 600, "exp": NOW + TTL}
    token = encrypt(keys.current, keys.current_kid, claims)
    cache.verify(keys, token, now=NOW + 600)
    with refused("not yet valid"):
        cache.verify(keys, token, now=NOW + 600 - tokens.CLOCK_LEEWAY_SECONDS - 1)


def test_a_cached_token_whose_key_was_pruned_is_refused(cache: tokens.VerifiedTokenCache) -> None:
    before = key_set(OLD_KEY, CURRENT_KEY)
    token = encrypt(before.by_kid["old"], "old", {"id": 42, "extras": {}, "iat": NOW, "exp": NOW + TTL})
    cache.verify(before, token, now=NOW)
    pruned = carry_over(before, key_set(CURRENT_KEY))
    with refused("unknown kid"):
        cache.verify(pruned, token, now=NOW + 1)


def test_a_cached_token_whose_key_was_replaced_under_its_kid_is_refused(cache: tokens.VerifiedTokenCache) -> None:
    before = key_set(CURRENT_KEY)
    token = tokens.issue(before, 42, TTL, now=NOW)
    cache.verify(before, token, now=NOW)
    replaced = carry_over(before, key_set(new_key("current")))
    with refused("decryption failed"):
        cache.verify(replaced, token, now=NOW + 1)


def test_a_different_token_with_the_same_claims_is_verified_in_full(
    keys: KeySet, cache: tokens.VerifiedTokenCache, decryptions: list[str]
) -> None:
    claims = {"id": 42, "extras": {}, "iat": NOW, "exp": NOW + TTL}
    genuine = encrypt(keys.current, keys.current_kid, claims)
    cache.verify(keys, genuine, now=NOW)
    forged = encrypt(jwk.JWK(**new_key("intruder")), keys.current_kid, claims)  # right kid, wrong key
    with refused("decryption failed"):
        cache.verify(keys, forged, now=NOW)
    header, encrypted_key, iv, ciphertext, tag = genuine.split(".")
    changed = "A" if tag[5] != "A" else "B"  # a whole character of the tag: still canonical base64url
    tampered = ".".join([header, encrypted_key, iv, ciphertext, tag[:5] + changed + tag[6:]])
    with pytest.raises(Unauthorized):
        cache.verify(keys, tampered, now=NOW)
    assert decryptions == [genuine, forged, tampered]
    assert forged not in cache and tampered not in cache


def test_a_refused_token_is_not_cached_and_is_refused_again(
    keys: KeySet, cache: tokens.VerifiedTokenCache, decryptions: list[str]
) -> None:
    token = tokens.issue(keys, 42, TTL, now=NOW)
    with refused("expired"):
        cache.verify(keys, token, now=NOW + TTL)
    with refused("expired"):
        cache.verify(keys, token, now=NOW + TTL)
    assert decryptions == [token, token]
    assert len(cache) == 0


def test_a_token_over_the_length_limit_is_refused_before_any_lookup(
    keys: KeySet, cache: tokens.VerifiedTokenCache
) -> None:
    with refused("too long"):
        cache.verify(keys, "a" * (tokens.MAX_TOKEN_LENGTH + 1), now=NOW)


def test_the_cache_keeps_at_most_max_entries_and_drops_the_oldest_first(keys: KeySet) -> None:
    cache = tokens.VerifiedTokenCache(max_entries=3)
    issued = [tokens.issue(keys, user_id, TTL, now=NOW) for user_id in range(1, 6)]
    for token in issued:
        cache.verify(keys, token, now=NOW)
    assert len(cache) == 3
    assert [token in cache for token in issued] == [False, False, True, True, True]


def test_a_cache_of_no_entries_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        tokens.VerifiedTokenCache(max_entries=0)


# The key store keeps each unchanged key's object, which keeps cached tokens valid.


class Source:
    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)

    def __call__(self) -> str:
        return self.texts[0] if len(self.texts) == 1 else self.texts.pop(0)


def jwks(*keys: dict[str, str]) -> str:
    return json.dumps({"keys": list(keys)})


def test_a_refresh_that_reads_the_same_set_keeps_the_same_key_set() -> None:
    clock = [0.0]
    store = KeyStore(Source(jwks(CURRENT_KEY)), max_age=300, clock=lambda: clock[0])
    first = store.get()
    clock[0] += 300
    assert store.get() is first


def test_a_rotation_keeps_the_tokens_of_the_unchanged_keys_cached(decryptions: list[str]) -> None:
    clock = [0.0]
    store = KeyStore(Source(jwks(CURRENT_KEY), jwks(CURRENT_KEY, new_key("next"))), max_age=300, clock=lambda: clock[0])
    cache = tokens.VerifiedTokenCache()
    token = tokens.issue(store.get(), 42, TTL, now=NOW)
    cache.verify(store.get(), token, now=NOW)
    clock[0] += 300
    rotated = store.get()
    assert rotated.current_kid == "next"
    assert cache.verify(rotated, token, now=NOW + 1).user_id == 42
    assert decryptions == [token]


def test_carry_over_keeps_unchanged_keys_and_takes_new_or_changed_ones() -> None:
    before = key_set(OLD_KEY, CURRENT_KEY)
    changed_old = new_key("old")
    added = new_key("next")
    after = carry_over(before, key_set(changed_old, CURRENT_KEY, added))
    assert after.by_kid["current"] is before.by_kid["current"]
    assert after.by_kid["old"] is not before.by_kid["old"]
    assert after.by_kid["old"].get("k") == changed_old["k"]
    assert after.by_kid["next"].get("k") == added["k"]
    assert list(after.by_kid) == ["old", "current", "next"] and after.current_kid == "next"
