"""The key set: parsing and validation of the JWK Set, and the store's bounded reloads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jwcrypto.common import base64url_encode

from lambda_auth.keys import KEY_BYTES, KeySet, KeySetError, KeyStore, new_key, parse_key_set
from lambda_auth.settings import KeySettings

MAX_AGE = 300.0


def jwks(*keys: dict[str, Any]) -> str:
    return json.dumps({"keys": list(keys)})


def oct_key(kid: str, size: int = KEY_BYTES) -> dict[str, str]:
    return {"kty": "oct", "kid": kid, "k": base64url_encode(bytes(range(size)))}


# parse_key_set


def test_jwk_set_is_read_in_order_and_its_last_key_is_current() -> None:
    first, second, third = new_key("a"), new_key("b"), new_key("c")
    keys = parse_key_set(jwks(first, second, third))
    assert list(keys.by_kid) == ["a", "b", "c"]
    assert keys.current_kid == "c"
    assert keys.current.export_symmetric(as_dict=True)["k"] == third["k"]


def test_single_jwk_is_read_as_a_set_of_one() -> None:
    key = new_key("initial")
    keys = parse_key_set(json.dumps(key))
    assert list(keys.by_kid) == ["initial"]
    assert keys.current_kid == "initial"
    assert keys.current.export_symmetric(as_dict=True)["k"] == key["k"]


def test_extra_members_of_a_key_are_accepted() -> None:
    keys = parse_key_set(jwks({**new_key("a"), "alg": "A256KW", "use": "enc", "created_at": 1}))
    assert keys.current_kid == "a"


def test_new_key_is_a_256_bit_oct_key_with_the_given_kid() -> None:
    key = new_key("fresh")
    assert key["kty"] == "oct" and key["kid"] == "fresh"
    assert parse_key_set(jwks(key)).current_kid == "fresh"
    assert new_key("fresh")["k"] != key["k"]


def test_duplicate_kid_is_refused() -> None:
    with pytest.raises(KeySetError, match="twice"):
        parse_key_set(jwks(new_key("same"), new_key("same")))


@pytest.mark.parametrize("kid", [..., "", None, 7, ["a"]])
def test_key_without_a_text_kid_is_refused(kid: object) -> None:
    key: dict[str, Any] = new_key("placeholder")
    if kid is ...:
        del key["kid"]
    else:
        key["kid"] = kid
    with pytest.raises(KeySetError, match="no kid"):
        parse_key_set(jwks(new_key("good"), key))


@pytest.mark.parametrize("kty", [..., "RSA", "EC", "OCT", None])
def test_key_that_is_not_oct_is_refused(kty: object) -> None:
    key: dict[str, Any] = new_key("a")
    if kty is ...:
        del key["kty"]
    else:
        key["kty"] = kty
    with pytest.raises(KeySetError, match="not an oct key"):
        parse_key_set(jwks(key))


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_key_that_is_not_256_bits_is_refused(size: int) -> None:
    with pytest.raises(KeySetError, match="256-bit"):
        parse_key_set(jwks(oct_key("a", size)))


@pytest.mark.parametrize("secret", [..., None, 42, "", "A", "AAAAA"])
def test_key_whose_secret_is_missing_or_not_base64url_is_refused(secret: object) -> None:
    key: dict[str, Any] = new_key("a")
    if secret is ...:
        del key["k"]
    else:
        key["k"] = secret
    with pytest.raises(KeySetError):
        parse_key_set(jwks(key))


@pytest.mark.parametrize("text", ["", "not json", "{", '{"keys": [', "\x00"])
def test_text_that_is_not_json_is_refused(text: str) -> None:
    with pytest.raises(KeySetError, match="not JSON"):
        parse_key_set(text)


@pytest.mark.parametrize("text", ["[]", "null", "42", '"keys"', "{}", '{"keys": []}', '{"keys": {}}', '{"keys": [1]}'])
def test_json_that_is_not_a_set_of_keys_is_refused(text: str) -> None:
    with pytest.raises(KeySetError):
        parse_key_set(text)


def test_one_bad_key_refuses_the_whole_set() -> None:
    with pytest.raises(KeySetError):
        parse_key_set(jwks(new_key("good"), oct_key("short", 16), new_key("also-good")))


# KeyStore


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Source:
    """A key set reader that counts its reads and can be told to fail."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.reads = 0
        self.failure: Exception | None = None

    def __call__(self) -> str:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        return self.texts[min(self.reads, len(self.texts)) - 1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store(source: Callable[[], str], clock: Clock) -> KeyStore:
    return KeyStore(source, MAX_AGE, clock=clock)


def test_store_reads_the_set_once_while_it_is_fresh(clock: Clock) -> None:
    source = Source(jwks(new_key("a")))
    keys = store(source, clock)
    first = keys.get()
    clock.now += MAX_AGE - 0.001
    assert keys.get() is first
    assert source.reads == 1


def test_store_reads_nothing_before_first_use(clock: Clock) -> None:
    source = Source(jwks(new_key("a")))
    store(source, clock)
    assert source.reads == 0


def test_store_reloads_the_set_once_max_age_has_passed(clock: Clock) -> None:
    source = Source(jwks(new_key("a")), jwks(new_key("a"), new_key("b")))
    keys = store(source, clock)
    assert keys.get().current_kid == "a"
    clock.now += MAX_AGE
    assert keys.get().current_kid == "b"
    assert keys.get().current_kid == "b"
    assert source.reads == 2


def test_store_keeps_the_old_keys_when_a_refresh_fails(clock: Clock) -> None:
    source = Source(jwks(new_key("a")))
    keys = store(source, clock)
    held = keys.get()
    source.failure = OSError("secret unreachable")
    clock.now += MAX_AGE
    assert keys.get() is held


def test_store_keeps_the_old_keys_when_a_refresh_reads_a_bad_set(clock: Clock) -> None:
    source = Source(jwks(new_key("a")), "not json")
    keys = store(source, clock)
    held = keys.get()
    clock.now += MAX_AGE
    assert keys.get() is held


def test_store_waits_max_age_again_after_a_failed_refresh(clock: Clock) -> None:
    source = Source(jwks(new_key("a")), jwks(new_key("b")))
    keys = store(source, clock)
    keys.get()
    source.failure = OSError("secret unreachable")
    clock.now += MAX_AGE
    keys.get()
    source.failure = None
    clock.now += MAX_AGE - 0.001
    assert keys.get().current_kid == "a"
    assert source.reads == 2
    clock.now += 0.001
    assert keys.get().current_kid == "b"


def test_store_raises_when_the_first_load_fails(clock: Clock) -> None:
    source = Source("not json")
    with pytest.raises(KeySetError):
        store(source, clock).get()


def test_store_tries_again_on_the_next_use_after_a_failed_first_load(clock: Clock) -> None:
    source = Source(jwks(new_key("a")))
    source.failure = OSError("secret unreachable")
    keys = store(source, clock)
    with pytest.raises(OSError, match="unreachable"):
        keys.get()
    source.failure = None
    assert keys.get().current_kid == "a"


def test_store_from_settings_reads_the_key_file(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(jwks(new_key("from-file")))
    settings = KeySettings.from_environment({"AUTH_JWKS_FILE": str(path)})
    keys: KeySet = KeyStore.from_settings(settings).get()
    assert keys.current_kid == "from-file"


def test_store_from_settings_names_a_missing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    settings = KeySettings.from_environment({"AUTH_JWKS_FILE": str(path)})
    with pytest.raises(KeySetError, match=r"absent\.json"):
        KeyStore.from_settings(settings).get()
