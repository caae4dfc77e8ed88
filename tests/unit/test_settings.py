"""Settings: read from the environment once, failing fast by name on what is missing or malformed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambda_auth import settings
from lambda_auth.settings import SettingsError, from_environment

REQUIRED = {"AUTH_TABLE_NAME": "users", "AUTH_JWKS_FILE": "/keys/jwks.json"}
INTEGER_SETTINGS = [
    "AUTH_TOKEN_TTL_SECONDS",
    "AUTH_KEYS_CACHE_SECONDS",
    "AUTH_LOGIN_MAX_FAILURES_PER_EMAIL",
    "AUTH_LOGIN_MAX_FAILURES_PER_IP",
    "AUTH_LOGIN_WINDOW_SECONDS",
    "AUTH_SIGNUP_MAX_PER_IP",
    "AUTH_SIGNUP_WINDOW_SECONDS",
]


@pytest.mark.parametrize("table_name", [None, "", "   "])
def test_missing_table_name_is_an_error_that_names_it(table_name: str | None) -> None:
    env = {"AUTH_JWKS_FILE": "/keys/jwks.json"}
    if table_name is not None:
        env["AUTH_TABLE_NAME"] = table_name
    with pytest.raises(SettingsError, match="AUTH_TABLE_NAME"):
        from_environment(env)


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_missing_key_location_is_an_error_that_names_both_variables(blank: str | None) -> None:
    env = {"AUTH_TABLE_NAME": "users"}
    if blank is not None:
        env |= {"AUTH_JWKS_FILE": blank, "AUTH_JWKS_SECRET_ARN": blank}
    with pytest.raises(SettingsError) as caught:
        from_environment(env)
    assert "AUTH_JWKS_SECRET_ARN" in str(caught.value)
    assert "AUTH_JWKS_FILE" in str(caught.value)


def test_either_key_location_is_enough() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys"
    from_secret = from_environment({"AUTH_TABLE_NAME": "users", "AUTH_JWKS_SECRET_ARN": arn})
    assert (from_secret.jwks_secret_arn, from_secret.jwks_file) == (arn, None)
    from_file = from_environment(REQUIRED)
    assert (from_file.jwks_secret_arn, from_file.jwks_file) == (None, "/keys/jwks.json")


def test_defaults_apply_to_what_is_not_set() -> None:
    loaded = from_environment(REQUIRED)
    assert loaded.table_name == "users"
    assert loaded.token_ttl_seconds == 86400
    assert loaded.keys_cache_seconds == 300
    assert loaded.cors_allow_origin == "*"


def test_set_values_are_read_and_trimmed() -> None:
    loaded = from_environment(
        {
            "AUTH_TABLE_NAME": " users ",
            "AUTH_JWKS_FILE": " /keys/jwks.json ",
            "AUTH_TOKEN_TTL_SECONDS": " 3600 ",
            "AUTH_KEYS_CACHE_SECONDS": "60",
            "AUTH_CORS_ALLOW_ORIGIN": "https://app.example.com",
        }
    )
    assert loaded.table_name == "users"
    assert loaded.jwks_file == "/keys/jwks.json"
    assert loaded.token_ttl_seconds == 3600
    assert loaded.keys_cache_seconds == 60
    assert loaded.cors_allow_origin == "https://app.example.com"


@pytest.mark.parametrize("name", INTEGER_SETTINGS)
@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", "0", "-60", "86400s"])
def test_integer_setting_that_is_not_a_positive_whole_number_is_an_error_that_names_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        from_environment({**REQUIRED, name: value})


@pytest.fixture
def fresh_current() -> Iterator[None]:
    settings.current.cache_clear()
    yield
    settings.current.cache_clear()


def test_current_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch, fresh_current: None) -> None:
    monkeypatch.setenv("AUTH_TOKEN_TTL_SECONDS", "120")
    first = settings.current()
    monkeypatch.setenv("AUTH_TOKEN_TTL_SECONDS", "240")
    assert settings.current() is first
    assert first.token_ttl_seconds == 120


def test_current_fails_by_name_when_the_environment_lacks_a_setting(
    monkeypatch: pytest.MonkeyPatch, fresh_current: None
) -> None:
    monkeypatch.delenv("AUTH_TABLE_NAME", raising=False)
    with pytest.raises(SettingsError, match="AUTH_TABLE_NAME"):
        settings.current()
