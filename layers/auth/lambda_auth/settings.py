"""Configuration, read from the environment once per cold start."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_TOKEN_TTL_SECONDS = 86400
DEFAULT_KEYS_CACHE_SECONDS = 300


class SettingsError(RuntimeError):
    """A required setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    jwks_file: str | None
    jwks_secret_arn: str | None
    token_ttl_seconds: int
    keys_cache_seconds: int
    cors_allow_origin: str
    login_max_failures_per_email: int
    login_max_failures_per_ip: int
    login_window_seconds: int
    signup_max_per_ip: int
    signup_window_seconds: int


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, not {value}")
    return value


def from_environment(env: Mapping[str, str]) -> Settings:
    """Build settings from a mapping of environment variables, failing on the first bad one."""
    table_name = env.get("AUTH_TABLE_NAME", "").strip()
    if not table_name:
        raise SettingsError("AUTH_TABLE_NAME is not set: it names the DynamoDB table of users")
    jwks_file = env.get("AUTH_JWKS_FILE", "").strip() or None
    jwks_secret_arn = env.get("AUTH_JWKS_SECRET_ARN", "").strip() or None
    if not jwks_file and not jwks_secret_arn:
        raise SettingsError("neither AUTH_JWKS_SECRET_ARN nor AUTH_JWKS_FILE is set: one must locate the token keys")
    return Settings(
        table_name=table_name,
        jwks_file=jwks_file,
        jwks_secret_arn=jwks_secret_arn,
        token_ttl_seconds=_integer(env, "AUTH_TOKEN_TTL_SECONDS", DEFAULT_TOKEN_TTL_SECONDS),
        keys_cache_seconds=_integer(env, "AUTH_KEYS_CACHE_SECONDS", DEFAULT_KEYS_CACHE_SECONDS),
        cors_allow_origin=env.get("AUTH_CORS_ALLOW_ORIGIN", "").strip() or "*",
        login_max_failures_per_email=_integer(env, "AUTH_LOGIN_MAX_FAILURES_PER_EMAIL", 5),
        login_max_failures_per_ip=_integer(env, "AUTH_LOGIN_MAX_FAILURES_PER_IP", 50),
        login_window_seconds=_integer(env, "AUTH_LOGIN_WINDOW_SECONDS", 900),
        signup_max_per_ip=_integer(env, "AUTH_SIGNUP_MAX_PER_IP", 20),
        signup_window_seconds=_integer(env, "AUTH_SIGNUP_WINDOW_SECONDS", 3600),
    )


@functools.cache
def current() -> Settings:
    """The process's settings, read from os.environ on first use and kept."""
    return from_environment(os.environ)
