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
from lambda_auth_cli.console import CliError
from lambda_auth_cli.jwks_file import JwksFile

DAY = 86400
T0 = 1_800_000_000


def key_set(document: dict[str, Any]) -> Any:
    return parse_key_set(json.dumps(document))


ACTIVATION = key_rotation.ACTIVATION_SECONDS


def kid_of(token: str) -> str:
    return str(json.loads(base64url_decode(token.split(".")[0]))["kid"])


def test_rotation_adds_a_key_that_issues_once_every_instance_has_it() -> None:
    first = {"keys": [new_key("initial")]}
    rotated, kid = key_rotation.rotate(first, now=T0)
    assert [key["kid"] for key in rotated["keys"]] == ["initial", kid]
    assert rotated["keys"][-1]["created_at"] == T0
    assert ACTIVATION >= 300 + 60  # the functions' key cache time, and a minute for the clocks
    assert key_set(rotated).issuing_kid(T0 + ACTIVATION - 1) == "initial"
    assert key_set(rotated).issuing_kid(T0 + ACTIVATION) == kid


def test_a_token_issued_right_after_a_rotation_verifies_where_the_new_key_is_not_yet_known() -> None:
    before = {"keys": [new_key("initial")]}
    rotated, kid = key_rotation.rotate(before, now=T0)
    # An instance that read the set before the rotation, until its cache expires:
    not_yet_refreshed = key_set(before)
    fresh = tokens.issue(key_set(rotated), 8, DAY, now=T0 + 1)  # e.g. `lambda-auth token` at once
    assert kid_of(fresh) == "initial"
    assert tokens.verify(not_yet_refreshed, fresh, now=T0 + 2).user_id == 8
    later = tokens.issue(key_set(rotated), 9, DAY, now=T0 + ACTIVATION)
    assert kid_of(later) == kid


def test_tokens_from_the_old_key_still_pass_after_a_rotation() -> None:
    before = {"keys": [new_key("initial")]}
    old_token = tokens.issue(key_set(before), 7, DAY, now=T0)
    rotated, kid = key_rotation.rotate(before, now=T0 + 10)
    assert tokens.verify(key_set(rotated), old_token, now=T0 + ACTIVATION + 20).user_id == 7
    new_token = tokens.issue(key_set(rotated), 8, DAY, now=T0 + ACTIVATION + 20)
    assert kid_of(new_token) == kid


def test_two_rotations_in_one_second_get_distinct_kids() -> None:
    once, first = key_rotation.rotate({"keys": [new_key("initial")]}, now=T0)
    twice, second = key_rotation.rotate(once, now=T0)
    assert first != second and len(key_set(twice).by_kid) == 3


def test_a_key_is_pruned_only_after_every_token_it_issued_has_expired() -> None:
    rotated, _ = key_rotation.rotate({"keys": [new_key("initial")]}, now=T0)
    # Its last token is issued when its successor begins to issue, and lives DAY; a minute for the clocks.
    last_expiry = T0 + ACTIVATION + DAY + key_rotation.CLOCK_SKEW_SECONDS
    assert key_rotation.prunable(rotated, DAY, now=last_expiry) == []
    assert key_rotation.prunable(rotated, DAY, now=last_expiry + 1) == ["initial"]


def test_a_key_rotated_before_keys_had_an_issuing_time_is_kept_as_long_as_before() -> None:
    document = {"keys": [new_key("initial"), {**new_key("second"), "created_at": T0}]}
    grace = 300 + key_rotation.CLOCK_SKEW_SECONDS
    assert key_rotation.prunable(document, DAY, now=T0 + DAY + grace) == []
    assert key_rotation.prunable(document, DAY, now=T0 + DAY + grace + 1) == ["initial"]


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
    assert location.read()[0]["keys"][0]["kid"] == "initial"


def test_a_key_set_the_functions_could_not_load_is_never_written(tmp_path: Path) -> None:
    location = JwksFile(tmp_path / "jwks.json")
    location.write({"keys": [new_key("initial")]})
    with pytest.raises(KeySetError):
        location.write({"keys": [{"kty": "oct", "kid": "short", "k": "AAAA"}]})
    assert location.read()[0]["keys"][0]["kid"] == "initial"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".jwks.json.lock", "jwks.json"]  # no leftover


def test_of_two_rotations_of_one_file_at_once_the_second_write_is_refused(tmp_path: Path) -> None:
    location = JwksFile(tmp_path / "jwks.json")
    location.write({"keys": [new_key("initial")]})
    (first, first_version), (second, second_version) = location.read(), location.read()
    location.write(key_rotation.rotate(first, now=T0)[0], first_version)
    with pytest.raises(CliError, match="changed since it was read"):
        location.write(key_rotation.rotate(second, now=T0 + 1)[0], second_version)
    assert len(location.read()[0]["keys"]) == 2  # the first rotation's key is there, and nothing is lost


def test_functions_pick_up_a_rotated_key_file_when_their_cache_expires(tmp_path: Path) -> None:
    location = JwksFile(tmp_path / "jwks.json")
    location.write({"keys": [new_key("initial")]})
    clock = [0.0]
    store = KeyStore(lambda: location.path.read_text(), max_age=300, clock=lambda: clock[0])
    assert list(store.get().by_kid) == ["initial"]
    rotated, kid = key_rotation.rotate(location.read()[0])
    location.write(rotated)
    clock[0] = 299
    assert list(store.get().by_kid) == ["initial"]
    clock[0] = 300
    assert list(store.get().by_kid) == ["initial", kid]
