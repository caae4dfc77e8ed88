"""Property: any change to a valid token is refused as Unauthorized, and never raises anything
else. Its base64url's spare low bits included: one token has one spelling."""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_auth import tokens
from lambda_auth.errors import Unauthorized
from lambda_auth.keys import new_key, parse_key_set

KEYS = parse_key_set(json.dumps({"keys": [new_key("old"), new_key("current")]}))
NOW = 1_800_000_000
TOKEN = tokens.issue(KEYS, 42, 3600, {"role": "member"}, now=NOW)
CLAIMS = tokens.verify(KEYS, TOKEN, now=NOW)
BASE64URL = string.ascii_letters + string.digits + "-_"
ANY_TEXT = BASE64URL + '.=+/ \x00{}"é'

fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def refused_or_same(token: str) -> None:
    """Refused, unless the change changed nothing."""
    if token == TOKEN:
        assert tokens.verify(KEYS, token, now=NOW) == CLAIMS
        return
    try:
        tokens.verify(KEYS, token, now=NOW)
    except Unauthorized:
        return
    raise AssertionError("a changed token was accepted")


@fuzz
@given(position=st.integers(0, len(TOKEN) - 1), replacement=st.sampled_from(ANY_TEXT))
def test_a_token_with_one_character_changed_is_refused(position: int, replacement: str) -> None:
    refused_or_same(TOKEN[:position] + replacement + TOKEN[position + 1 :])


@fuzz
@given(position=st.integers(0, len(TOKEN) - 1))
def test_a_token_with_one_character_removed_is_refused(position: int) -> None:
    refused_or_same(TOKEN[:position] + TOKEN[position + 1 :])


@fuzz
@given(position=st.integers(0, len(TOKEN)), inserted=st.text(ANY_TEXT, min_size=1, max_size=8))
def test_a_token_with_characters_inserted_is_refused(position: int, inserted: str) -> None:
    refused_or_same(TOKEN[:position] + inserted + TOKEN[position:])


@fuzz
@given(segment=st.integers(0, 4), replacement=st.text(BASE64URL, max_size=120))
def test_a_token_with_a_segment_replaced_is_refused(segment: int, replacement: str) -> None:
    parts = TOKEN.split(".")
    parts[segment] = replacement
    refused_or_same(".".join(parts))


@fuzz
@given(order=st.permutations(range(5)))
def test_a_token_with_its_segments_reordered_is_refused(order: list[int]) -> None:
    parts = TOKEN.split(".")
    refused_or_same(".".join(parts[index] for index in order))


@fuzz
@given(junk=st.text(max_size=5000))
def test_arbitrary_text_is_refused_as_unauthorized(junk: str) -> None:
    refused_or_same(junk)


def test_the_unmutated_token_verifies() -> None:
    assert CLAIMS.user_id == 42 and CLAIMS.extras == {"role": "member"}
