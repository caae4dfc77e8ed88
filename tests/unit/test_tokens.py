"""Tokens: compact JWE, A256KW + A256CBC-HS512, issued and verified with real crypto.

Every refusal must be `Unauthorized`, never another exception: pytest.raises(Unauthorized)
lets any other type through as a failure.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from jwcrypto import jwe, jwk
from jwcrypto.common import base64url_decode, base64url_encode

from lambda_auth import tokens
from lambda_auth.errors import Unauthorized
from lambda_auth.keys import KeySet, new_key, parse_key_set

NOW = 1_800_000_000
TTL = 3600
KID = "current"
HEADER = {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": KID}


def key_set(*keys: dict[str, str]) -> KeySet:
    return parse_key_set(json.dumps({"keys": list(keys)}))


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return key_set(new_key("older"), new_key(KID))


def claims(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"id": 42, "extras": {}, "iat": NOW, "exp": NOW + TTL}
    document.update(changes)
    return document


def encrypt(key: jwk.JWK, payload: object, **header_changes: Any) -> str:
    """A compact JWE built with jwcrypto directly, header and payload as given."""
    header = {**HEADER, **header_changes}
    plaintext = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    token = jwe.JWE(plaintext=plaintext, protected=json.dumps(header))
    token.allowed_algs = [header["alg"], header["enc"]]
    token.add_recipient(key)
    return str(token.serialize(compact=True))


def protected_header(token: str) -> dict[str, Any]:
    header = json.loads(base64url_decode(token.split(".")[0]))
    assert isinstance(header, dict)
    return header


# issue and verify


def test_issued_token_verifies_to_its_user_and_times(keys: KeySet) -> None:
    token = tokens.issue(keys, 42, TTL, {"role": "member"}, now=NOW)
    assert tokens.verify(keys, token, now=NOW + 1) == tokens.Claims(
        user_id=42, issued_at=NOW, expires_at=NOW + TTL, extras={"role": "member"}
    )


def test_issued_token_header_is_exactly_alg_enc_and_the_current_kid(keys: KeySet) -> None:
    token = tokens.issue(keys, 42, TTL, now=NOW)
    assert token.count(".") == 4
    assert protected_header(token) == {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": KID}


def test_issued_token_claims_are_id_extras_iat_exp(keys: KeySet) -> None:
    decrypted = jwe.JWE()
    decrypted.deserialize(tokens.issue(keys, 42, TTL, now=NOW), key=keys.current)
    assert json.loads(decrypted.payload) == {"id": 42, "extras": {}, "iat": NOW, "exp": NOW + TTL}


def test_token_of_an_older_key_in_the_set_is_accepted(keys: KeySet) -> None:
    older = KeySet(by_kid={"older": keys.by_kid["older"]})
    token = tokens.issue(older, 7, TTL, now=NOW)
    assert tokens.verify(keys, token, now=NOW).user_id == 7


def test_token_built_like_issue_by_jwcrypto_is_accepted(keys: KeySet) -> None:
    # The baseline the refusals below depart from, one thing at a time.
    assert tokens.verify(keys, encrypt(keys.current, claims()), now=NOW).user_id == 42


# refused headers


@pytest.mark.parametrize(
    ("alg", "enc", "key_bits"),
    [
        ("A128KW", "A256CBC-HS512", 128),
        ("A192KW", "A256CBC-HS512", 192),
        ("A256KW", "A128CBC-HS256", 256),
        ("A256KW", "A256GCM", 256),
        ("A256GCMKW", "A256CBC-HS512", 256),
        ("dir", "A256CBC-HS512", 512),
    ],
)
def test_token_with_another_alg_or_enc_is_refused(keys: KeySet, alg: str, enc: str, key_bits: int) -> None:
    key = jwk.JWK.generate(kty="oct", size=key_bits, kid=KID)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, encrypt(key, claims(), alg=alg, enc=enc), now=NOW)


def test_token_with_zip_header_is_refused(keys: KeySet) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(keys, encrypt(keys.current, claims(), zip="DEF"), now=NOW)


def test_token_with_unknown_kid_is_refused(keys: KeySet) -> None:
    token = tokens.issue(key_set(new_key("elsewhere")), 42, TTL, now=NOW)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, token, now=NOW)


def test_token_encrypted_with_another_key_under_the_same_kid_is_refused(keys: KeySet) -> None:
    token = tokens.issue(key_set(new_key(KID)), 42, TTL, now=NOW)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, token, now=NOW)


# refused claims


@pytest.mark.parametrize("at", [NOW + TTL, NOW + TTL + 1, NOW + 10 * TTL])
def test_expired_token_is_refused(keys: KeySet, at: int) -> None:
    token = tokens.issue(keys, 42, TTL, now=NOW)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, token, now=at)


def test_token_issued_in_the_future_beyond_the_leeway_is_refused(keys: KeySet) -> None:
    token = tokens.issue(keys, 42, TTL, now=NOW + tokens.CLOCK_LEEWAY_SECONDS + 1)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, token, now=NOW)


def test_token_issued_in_the_future_within_the_leeway_is_accepted(keys: KeySet) -> None:
    token = tokens.issue(keys, 42, TTL, now=NOW + tokens.CLOCK_LEEWAY_SECONDS)
    assert tokens.verify(keys, token, now=NOW).user_id == 42


def test_token_not_yet_valid_beyond_the_leeway_is_refused(keys: KeySet) -> None:
    token = encrypt(keys.current, claims(nbf=NOW + tokens.CLOCK_LEEWAY_SECONDS + 1))
    with pytest.raises(Unauthorized):
        tokens.verify(keys, token, now=NOW)


def test_token_not_yet_valid_within_the_leeway_is_accepted(keys: KeySet) -> None:
    token = encrypt(keys.current, claims(nbf=NOW + tokens.CLOCK_LEEWAY_SECONDS))
    assert tokens.verify(keys, token, now=NOW).user_id == 42


@pytest.mark.parametrize("user_id", [0, -1, True, "42", 42.0, 2**53, None])
def test_token_whose_id_is_not_a_positive_integer_below_2_53_is_refused(keys: KeySet, user_id: object) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(keys, encrypt(keys.current, claims(id=user_id)), now=NOW)


def test_token_whose_id_is_2_53_minus_1_is_accepted(keys: KeySet) -> None:
    assert tokens.verify(keys, encrypt(keys.current, claims(id=2**53 - 1)), now=NOW).user_id == 2**53 - 1


def test_token_without_an_id_is_refused(keys: KeySet) -> None:
    document = claims()
    del document["id"]
    with pytest.raises(Unauthorized):
        tokens.verify(keys, encrypt(keys.current, document), now=NOW)


@pytest.mark.parametrize("field", ["iat", "exp"])
@pytest.mark.parametrize("value", [str(NOW + TTL), float(NOW + TTL), True, None])
def test_token_whose_iat_or_exp_is_not_an_integer_is_refused(keys: KeySet, field: str, value: object) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(keys, encrypt(keys.current, claims(**{field: value})), now=NOW)


@pytest.mark.parametrize("extras", [[], "x", 1, None])
def test_token_whose_extras_are_not_an_object_is_refused(keys: KeySet, extras: object) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(keys, encrypt(keys.current, claims(extras=extras)), now=NOW)


@pytest.mark.parametrize("payload", [[1, 2], "claims", 42, None, b"not json", b"\xff\xfe"])
def test_token_whose_claims_are_not_a_json_object_is_refused(keys: KeySet, payload: object) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(keys, encrypt(keys.current, payload), now=NOW)


# refused shapes


def test_json_serialized_jwe_is_refused(keys: KeySet) -> None:
    token = jwe.JWE(plaintext=json.dumps(claims()).encode(), protected=json.dumps(HEADER))
    token.add_recipient(keys.current)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, str(token.serialize(compact=False)), now=NOW)


def _tokens_around_the_length_limit(keys: KeySet) -> tuple[str, str]:
    """The longest valid token within MAX_TOKEN_LENGTH and the shortest beyond it."""
    longest_within, shortest_beyond = "", ""
    for padding in range(2700, 3300, 8):
        token = tokens.issue(keys, 42, TTL, {"padding": "x" * padding}, now=NOW)
        if len(token) <= tokens.MAX_TOKEN_LENGTH:
            longest_within = token
        elif not shortest_beyond:
            shortest_beyond = token
    assert longest_within and shortest_beyond
    return longest_within, shortest_beyond


def test_token_over_4096_characters_is_refused(keys: KeySet) -> None:
    assert tokens.MAX_TOKEN_LENGTH == 4096
    _, too_long = _tokens_around_the_length_limit(keys)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, too_long, now=NOW)


def test_token_of_at_most_4096_characters_is_accepted(keys: KeySet) -> None:
    longest, _ = _tokens_around_the_length_limit(keys)
    assert len(longest) > tokens.MAX_TOKEN_LENGTH - 64
    assert tokens.verify(keys, longest, now=NOW).user_id == 42


@pytest.mark.parametrize("segment", range(5))
@pytest.mark.parametrize("bad", ["A", "AAAAA", "ab+/", "abc=", "ab cd", ""])
def test_token_with_a_segment_that_is_not_base64url_is_refused(keys: KeySet, segment: int, bad: str) -> None:
    parts = tokens.issue(keys, 42, TTL, now=NOW).split(".")
    parts[segment] = bad
    with pytest.raises(Unauthorized):
        tokens.verify(keys, ".".join(parts), now=NOW)


@pytest.mark.parametrize("header", [b"[]", b"null", b'"A256KW"', b"{not json", b"\xff\xfe"])
def test_token_whose_header_is_not_a_json_object_is_refused(keys: KeySet, header: bytes) -> None:
    parts = tokens.issue(keys, 42, TTL, now=NOW).split(".")
    parts[0] = base64url_encode(header)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, ".".join(parts), now=NOW)


@pytest.mark.parametrize("segment", [1, 2, 3, 4])  # encrypted key, iv, ciphertext, tag
def test_token_with_a_tampered_segment_is_refused(keys: KeySet, segment: int) -> None:
    parts = tokens.issue(keys, 42, TTL, now=NOW).split(".")
    # The first character carries six whole bits, unlike the last one's spare bits.
    parts[segment] = ("B" if parts[segment][0] == "A" else "A") + parts[segment][1:]
    with pytest.raises(Unauthorized):
        tokens.verify(keys, ".".join(parts), now=NOW)


@pytest.mark.parametrize(("first", "second"), [(1, 2), (2, 3), (3, 4), (1, 3), (0, 4)])
def test_token_with_swapped_segments_is_refused(keys: KeySet, first: int, second: int) -> None:
    parts = tokens.issue(keys, 42, TTL, now=NOW).split(".")
    parts[first], parts[second] = parts[second], parts[first]
    with pytest.raises(Unauthorized):
        tokens.verify(keys, ".".join(parts), now=NOW)


@pytest.mark.parametrize("token", ["", " ", "....", "a.b.c.d", "a.b.c.d.e.f", "Bearer x"])
def test_text_that_is_not_a_compact_jwe_is_refused(keys: KeySet, token: str) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(keys, token, now=NOW)


def test_token_with_surrounding_whitespace_is_refused(keys: KeySet) -> None:
    token = tokens.issue(keys, 42, TTL, now=NOW)
    with pytest.raises(Unauthorized):
        tokens.verify(keys, f" {token}\n", now=NOW)


def spare_bits_variant(segment: str) -> str | None:
    """The same bytes spelt otherwise: the last character with other spare low bits, if it has any."""
    spare = {2: 4, 3: 2}.get(len(segment) % 4)  # characters left over, and the bits they do not use
    if spare is None:
        return None
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    value = alphabet.index(segment[-1])
    return segment[:-1] + alphabet[value ^ 1]  # the lowest bit is always a spare one here


@pytest.mark.parametrize("segment", [0, 2, 3, 4])  # the encrypted key's 96 characters have no spare bits
def test_a_segment_spelt_with_other_spare_bits_is_refused(segment: int) -> None:
    variant = None
    for size in range(12):  # kids and extras of other lengths, until the segment has spare bits
        keys = key_set(new_key("k" * (size + 1)))
        parts = tokens.issue(keys, 42, TTL, {"pad": "x" * size}, now=NOW).split(".")
        variant = spare_bits_variant(parts[segment])
        if variant is not None:
            break
    assert variant is not None, "no issued token had spare bits in that segment"
    assert base64url_decode(variant) == base64url_decode(parts[segment])  # the same bytes
    parts[segment] = variant
    with pytest.raises(Unauthorized) as refusal:
        tokens.verify(keys, ".".join(parts), now=NOW)
    assert "canonical" in refusal.value.reason


def test_a_deeply_nested_header_is_refused_as_unauthorized(keys: KeySet) -> None:
    # Nested past the JSON parser's depth (Python 3.11 raises RecursionError), within the length limit.
    parts = tokens.issue(keys, 42, TTL, now=NOW).split(".")
    parts[0] = base64url_encode(b"[" * 1400 + b"]" * 1400)
    token = ".".join(parts)
    assert len(token) <= tokens.MAX_TOKEN_LENGTH
    with pytest.raises(Unauthorized):
        tokens.verify(keys, token, now=NOW)
