"""Configuration: every environment variable the layer reads is read here, once per cold start.

Settings come in groups, one per concern, each read from the environment on first use and
kept. A function reads only the groups its route uses, so it requires only their
variables: the authorizer needs the keys and no table, /auth/me the table and no keys. A
missing or malformed variable fails the first read of its group with a `SettingsError`
that names it. An empty variable counts as unset (`sam local` passes every variable the
template declares, empty when no value is given).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

DEFAULT_TOKEN_TTL_SECONDS = 86400
DEFAULT_KEYS_CACHE_SECONDS = 300

Environment = Mapping[str, str]


class SettingsError(RuntimeError):
    """A required setting is missing or malformed; the message names it."""


def _text(env: Environment, name: str) -> str | None:
    return env.get(name, "").strip() or None


def _required(env: Environment, name: str, meaning: str) -> str:
    value = _text(env, name)
    if value is None:
        raise SettingsError(f"{name} is not set: {meaning}")
    return value


def _integer(env: Environment, name: str, default: int, minimum: int = 1) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be {'positive' if minimum == 1 else f'at least {minimum}'}, not {value}")
    return value


class TableSettings(NamedTuple):
    """Where users live: every function but the authorizer."""

    name: str

    @classmethod
    def from_environment(cls, env: Environment) -> TableSettings:
        return cls(name=_required(env, "AUTH_TABLE_NAME", "it names the DynamoDB table of users"))


class KeySettings(NamedTuple):
    """Where the token keys are, and how long a function keeps them before reading them again."""

    jwks_file: str | None
    jwks_secret_arn: str | None
    cache_seconds: int

    @classmethod
    def from_environment(cls, env: Environment) -> KeySettings:
        jwks_file, jwks_secret_arn = _text(env, "AUTH_JWKS_FILE"), _text(env, "AUTH_JWKS_SECRET_ARN")
        if not jwks_file and not jwks_secret_arn:
            raise SettingsError(
                "neither AUTH_JWKS_SECRET_ARN nor AUTH_JWKS_FILE is set: one must locate the token keys"
            )
        return cls(jwks_file, jwks_secret_arn, _integer(env, "AUTH_KEYS_CACHE_SECONDS", DEFAULT_KEYS_CACHE_SECONDS))


class TokenSettings(NamedTuple):
    """How long the tokens a function issues stay valid."""

    ttl_seconds: int

    @classmethod
    def from_environment(cls, env: Environment) -> TokenSettings:
        return cls(ttl_seconds=_integer(env, "AUTH_TOKEN_TTL_SECONDS", DEFAULT_TOKEN_TTL_SECONDS))


class LimitSettings(NamedTuple):
    """The brute-force limits of login (and the password checks that count with it), signup and reset."""

    login_max_failures_per_email: int
    login_max_failures_per_ip: int
    login_window_seconds: int
    signup_max_per_ip: int
    signup_window_seconds: int
    reset_max_per_email: int = 5
    reset_max_per_ip: int = 20
    reset_window_seconds: int = 3600

    @classmethod
    def from_environment(cls, env: Environment) -> LimitSettings:
        return cls(
            login_max_failures_per_email=_integer(env, "AUTH_LOGIN_MAX_FAILURES_PER_EMAIL", 5),
            login_max_failures_per_ip=_integer(env, "AUTH_LOGIN_MAX_FAILURES_PER_IP", 50),
            login_window_seconds=_integer(env, "AUTH_LOGIN_WINDOW_SECONDS", 900),
            signup_max_per_ip=_integer(env, "AUTH_SIGNUP_MAX_PER_IP", 20),
            signup_window_seconds=_integer(env, "AUTH_SIGNUP_WINDOW_SECONDS", 3600),
            reset_max_per_email=_integer(env, "AUTH_RESET_MAX_PER_EMAIL", 5),
            reset_max_per_ip=_integer(env, "AUTH_RESET_MAX_PER_IP", 20),
            reset_window_seconds=_integer(env, "AUTH_RESET_WINDOW_SECONDS", 3600),
        )


class SessionSettings(NamedTuple):
    """How long the authorizer may trust a session it found live before it looks again (0: every request)."""

    check_seconds: int

    @classmethod
    def from_environment(cls, env: Environment) -> SessionSettings:
        return cls(check_seconds=_integer(env, "AUTH_SESSION_CHECK_SECONDS", 10, minimum=0))


class ResetSettings(NamedTuple):
    """Password reset: how long a code lives, and the function that mails it (the request hands over to it)."""

    code_ttl_seconds: int
    mailer: str | None  # a Lambda function's name or ARN; required only where a reset is requested

    @classmethod
    def from_environment(cls, env: Environment) -> ResetSettings:
        return cls(_integer(env, "AUTH_RESET_CODE_TTL_SECONDS", 900), _text(env, "AUTH_RESET_MAILER"))

    def required_mailer(self) -> str:
        if not self.mailer:
            raise SettingsError("AUTH_RESET_MAILER is not set: it names the function that mails reset codes")
        return self.mailer


class MailSettings(NamedTuple):
    """Where email goes: from a sender through Amazon SES, or, locally, into an outbox file."""

    sender: str | None
    outbox: str | None

    @classmethod
    def from_environment(cls, env: Environment) -> MailSettings:
        sender, outbox = _text(env, "AUTH_MAIL_SENDER"), _text(env, "AUTH_MAIL_OUTBOX")
        if not sender and not outbox:
            raise SettingsError(
                "AUTH_MAIL_SENDER is not set (the stack's MailSenderAddress, an address verified in Amazon SES):"
                " no reset code can be mailed; locally AUTH_MAIL_OUTBOX names a file to mail into instead"
            )
        return cls(sender, outbox)


class ApiSettings(NamedTuple):
    """What the HTTP functions' answers carry besides their body."""

    cors_allow_origin: str

    @classmethod
    def from_environment(cls, env: Environment) -> ApiSettings:
        return cls(cors_allow_origin=_text(env, "AUTH_CORS_ALLOW_ORIGIN") or "*")


class ObservabilitySettings(NamedTuple):
    """Powertools' service name, metrics namespace and log level."""

    service: str
    metrics_namespace: str
    log_level: str

    @classmethod
    def from_environment(cls, env: Environment) -> ObservabilitySettings:
        service = _text(env, "POWERTOOLS_SERVICE_NAME") or "lambda-auth"
        namespace = _text(env, "POWERTOOLS_METRICS_NAMESPACE") or "LambdaAuth"
        return cls(service, namespace, (_text(env, "POWERTOOLS_LOG_LEVEL") or "INFO").upper())


@dataclass(frozen=True)
class AwsSettings:
    """What the layer's standard-library AWS client needs: Lambda's region and credentials, and
    boto3's endpoint overrides. (DynamoDB's client in the store, botocore, reads them itself.)"""

    region: str | None
    access_key_id: str | None
    # Out of repr, so that no traceback or log line can show them.
    secret_access_key: str | None = field(repr=False)
    session_token: str | None = field(repr=False)
    endpoints: dict[str, str] = field(default_factory=dict)  # by service, e.g. "dynamodb"; "" for every service

    SERVICES = ("dynamodb", "lambda", "secretsmanager", "sesv2")

    @classmethod
    def from_environment(cls, env: Environment) -> AwsSettings:
        endpoints = {service: _text(env, f"AWS_ENDPOINT_URL_{service.upper()}") for service in cls.SERVICES}
        endpoints[""] = _text(env, "AWS_ENDPOINT_URL")
        return cls(
            region=_text(env, "AWS_REGION") or _text(env, "AWS_DEFAULT_REGION"),
            access_key_id=_text(env, "AWS_ACCESS_KEY_ID"),
            secret_access_key=_text(env, "AWS_SECRET_ACCESS_KEY"),
            session_token=_text(env, "AWS_SESSION_TOKEN"),
            endpoints={service: url for service, url in endpoints.items() if url},
        )

    def endpoint(self, service: str) -> str | None:
        """boto3's endpoint override for `service` (AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL), if any."""
        return self.endpoints.get(service) or self.endpoints.get("")


_Group = TypeVar("_Group")
_read_groups: list[Callable[[], object]] = []


def _once(read: Callable[[Environment], _Group]) -> Callable[[], _Group]:
    """A group read from os.environ on first use, then kept."""

    @functools.cache
    def current() -> _Group:
        return read(os.environ)

    _read_groups.append(current)
    return current


table = _once(TableSettings.from_environment)
keys = _once(KeySettings.from_environment)
tokens = _once(TokenSettings.from_environment)
limits = _once(LimitSettings.from_environment)
sessions = _once(SessionSettings.from_environment)
password_reset = _once(ResetSettings.from_environment)
mail = _once(MailSettings.from_environment)
api = _once(ApiSettings.from_environment)
observability = _once(ObservabilitySettings.from_environment)
aws = _once(AwsSettings.from_environment)


def reset() -> None:
    """Forget every group read so far, so the next read sees the environment as it is now.

    For hosts that set the environment before running the layer's code (the local tools,
    the tests); a function never calls it.
    """
    for current in _read_groups:
        current.cache_clear()  # type: ignore[attr-defined]
