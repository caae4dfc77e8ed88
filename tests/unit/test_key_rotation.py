"""Key rotation: new keys issue, old keys verify until their tokens are gone, then go."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from jwcrypto.common import base64url_decode

from lambda_auth import tokens
from lambda_auth.errors import Unauthorized
from lambda_auth.keys import KeySetError, KeyStore, new_key, parse_key_set
from lambda_auth_cli import key_rotation
from lambda_auth_cli.jwks_file import JwksFile

DAY = 86400
T0 = 1_800_000_000


def key_set(document: dict[str, Any]) -> Any:
    return parse_key_set(json.dumps(document))


def test_rotation_adds_a_new_current_key_and_keeps_the_old_ones() -> None:
    first = {"keys": [new_key("initial")]}
    rotated, kid = key_rotation.rotate(first, now=T0)
    assert [key["kid"] for key in rotated["keys"]] == ["initial", kid]
    assert key_set(rotated).current_kid == kid
    assert rotated["keys"][-1]["created_at"] == T0


def test_tokens_from_the_old_key_still_pass_after_a_rotation() -> None:
    before = {"keys": [new_key("initial")]}
    old_token = tokens.issue(key_set(before), 7, DAY, now=T0)
    rotated, kid = key_rotation.rotate(before, now=T0 + 10)
    assert tokens.verify(key_set(rotated), old_token, now=T0 + 20).user_id == 7
    new_token = tokens.issue(key_set(rotated), 8, DAY, now=T0 + 20)
    assert json.loads(base64url_decode(new_token.split(".")[0]))["kid"] == kid


def test_two_rotations_in_one_second_get_distinct_kids() -> None:
    once, first = key_rotation.rotate({"keys": [new_key("initial")]}, now=T0)
    twice, second = key_rotation.rotate(once, now=T0)
    assert first != second and len(key_set(twice).by_kid) == 3


def test_a_key_is_pruned_only_after_every_token_it_issued_has_expired() -> None:
    rotated, _ = key_rotation.rotate({"keys": [new_key("initial")]}, now=T0)
    grace = key_rotation.DEFAULT_REFRESH_GRACE_SECONDS
    assert key_rotation.prunable(rotated, DAY, now=T0 + DAY + grace) == []
    assert key_rotation.prunable(rotated, DAY, now=T0 + DAY + grace + 1) == ["initial"]


def test_tokens_from_a_pruned_key_are_refused() -> None:
    initial = {"keys": [new_key("initial")]}
    old_token = tokens.issue(key_set(initial), 7, 2 * DAY, now=T0)
    rotated, _ = key_rotation.rotate(initial, now=T0 + 1)
    pruned, removed = key_rotation.prune(rotated, DAY, now=T0 + 3 * DAY)
    assert removed == ["initial"]
    with pytest.raises(Unauthorized):
        tokens.verify(key_set(pruned), old_token, now=T0 + DAY)


def test_the_current_key_is_never_pruned() -> None:
    rotated, kid = key_rotation.rotate({"keys": [new_key("initial")]}, now=T0)
    pruned, _ = key_rotation.prune(rotated, DAY, now=T0 + 365 * DAY)
    assert [key["kid"] for key in pruned["keys"]] == [kid]


def test_a_key_whose_successor_has_no_creation_time_is_kept() -> None:
    document = {"keys": [new_key("a"), new_key("b")]}
    assert key_rotation.prunable(document, DAY, now=T0 + 365 * DAY) == []


def test_the_key_file_is_written_for_its_owner_only(tmp_path: Path) -> None:
    location = JwksFile(tmp_path / "keys" / "jwks.json")
    location.write({"keys": [new_key("initial")]})
    mode = stat.S_IMODE((tmp_path / "keys" / "jwks.json").stat().st_mode)
    assert mode == 0o600
    assert location.read()["keys"][0]["kid"] == "initial"


def test_a_key_set_the_functions_could_not_load_is_never_written(tmp_path: Path) -> None:
    location = JwksFile(tmp_path / "jwks.json")
    location.write({"keys": [new_key("initial")]})
    with pytest.raises(KeySetError):
        location.write({"keys": [{"kty": "oct", "kid": "short", "k": "AAAA"}]})
    assert location.read()["keys"][0]["kid"] == "initial"
    assert list(tmp_path.iterdir()) == [tmp_path / "jwks.json"]


def test_functions_pick_up_a_rotated_key_file_when_their_cache_expires(tmp_path: Path) -> None:
    location = JwksFile(tmp_path / "jwks.json")
    location.write({"keys": [new_key("initial")]})
    clock = [0.0]
    store = KeyStore(lambda: location.path.read_text(), max_age=300, clock=lambda: clock[0])
    assert store.get().current_kid == "initial"
    rotated, kid = key_rotation.rotate(location.read())
    location.write(rotated)
    clock[0] = 299
    assert store.get().current_kid == "initial"
    clock[0] = 300
    assert store.get().current_kid == kid
