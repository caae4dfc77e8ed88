"""Settings: read from the environment once, in groups, failing fast by name on what is missing or malformed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import botocore.session
import pytest

from lambda_auth import aws, settings
from lambda_auth.settings import (
    ApiSettings,
    KeySettings,
    LimitSettings,
    ObservabilitySettings,
    SettingsError,
    TableSettings,
    TokenSettings,
)
from tests.conftest import ROOT

INTEGER_SETTINGS = [
    (TokenSettings, "AUTH_TOKEN_TTL_SECONDS"),
    (KeySettings, "AUTH_KEYS_CACHE_SECONDS"),
    (LimitSettings, "AUTH_LOGIN_MAX_FAILURES_PER_EMAIL"),
    (LimitSettings, "AUTH_LOGIN_MAX_FAILURES_PER_IP"),
    (LimitSettings, "AUTH_LOGIN_WINDOW_SECONDS"),
    (LimitSettings, "AUTH_SIGNUP_MAX_PER_IP"),
    (LimitSettings, "AUTH_SIGNUP_WINDOW_SECONDS"),
]
KEY_FILE = {"AUTH_JWKS_FILE": "/keys/jwks.json"}


@pytest.mark.parametrize("table_name", [None, "", "   "])
def test_missing_table_name_is_an_error_that_names_it(table_name: str | None) -> None:
    env = {} if table_name is None else {"AUTH_TABLE_NAME": table_name}
    with pytest.raises(SettingsError, match="AUTH_TABLE_NAME"):
        TableSettings.from_environment(env)


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_missing_key_location_is_an_error_that_names_both_variables(blank: str | None) -> None:
    env = {} if blank is None else {"AUTH_JWKS_FILE": blank, "AUTH_JWKS_SECRET_ARN": blank}
    with pytest.raises(SettingsError) as caught:
        KeySettings.from_environment(env)
    assert "AUTH_JWKS_SECRET_ARN" in str(caught.value)
    assert "AUTH_JWKS_FILE" in str(caught.value)


def test_either_key_location_is_enough() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys"
    from_secret = KeySettings.from_environment({"AUTH_JWKS_SECRET_ARN": arn})
    assert (from_secret.jwks_secret_arn, from_secret.jwks_file) == (arn, None)
    from_file = KeySettings.from_environment(KEY_FILE)
    assert (from_file.jwks_secret_arn, from_file.jwks_file) == (None, "/keys/jwks.json")


def test_defaults_apply_to_what_is_not_set() -> None:
    assert TokenSettings.from_environment({}).ttl_seconds == 86400
    assert KeySettings.from_environment(KEY_FILE).cache_seconds == 300
    assert ApiSettings.from_environment({}).cors_allow_origin == "*"
    assert LimitSettings.from_environment({}) == LimitSettings(5, 50, 900, 20, 3600)
    assert ObservabilitySettings.from_environment({}) == ObservabilitySettings("lambda-auth", "LambdaAuth", "INFO")


def test_set_values_are_read_and_trimmed() -> None:
    env = {
        "AUTH_TABLE_NAME": " users ",
        "AUTH_JWKS_FILE": " /keys/jwks.json ",
        "AUTH_TOKEN_TTL_SECONDS": " 3600 ",
        "AUTH_KEYS_CACHE_SECONDS": "60",
        "AUTH_CORS_ALLOW_ORIGIN": "https://app.example.com",
        "POWERTOOLS_LOG_LEVEL": " debug ",
    }
    assert TableSettings.from_environment(env).name == "users"
    assert KeySettings.from_environment(env) == KeySettings("/keys/jwks.json", None, 60)
    assert TokenSettings.from_environment(env).ttl_seconds == 3600
    assert ApiSettings.from_environment(env).cors_allow_origin == "https://app.example.com"
    assert ObservabilitySettings.from_environment(env).log_level == "DEBUG"


@pytest.mark.parametrize(("group", "name"), INTEGER_SETTINGS)
@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", "0", "-60", "86400s"])
def test_integer_setting_that_is_not_a_positive_whole_number_is_an_error_that_names_it(
    group: type[TokenSettings | KeySettings | LimitSettings], name: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        group.from_environment({**KEY_FILE, name: value})


def test_an_empty_variable_counts_as_unset() -> None:
    # sam local passes every variable the template declares, empty when it has no value.
    env = {"AUTH_TOKEN_TTL_SECONDS": "", "AUTH_CORS_ALLOW_ORIGIN": "", "AWS_ENDPOINT_URL_SECRETSMANAGER": ""}
    assert TokenSettings.from_environment(env).ttl_seconds == 86400
    assert ApiSettings.from_environment(env).cors_allow_origin == "*"
    assert settings.AwsSettings.from_environment(env).endpoint("secretsmanager") is None


@pytest.mark.parametrize("service", settings.AwsSettings.SERVICES)
def test_an_empty_endpoint_leaves_the_layers_client_on_the_regions_own(service: str) -> None:
    # The template declares every AWS_ENDPOINT_URL_<SERVICE> the layer calls empty, for sam local to set.
    configured = settings.AwsSettings.from_environment(
        {f"AWS_ENDPOINT_URL_{service.upper()}": "", "AWS_ENDPOINT_URL": ""}
    )
    assert configured.endpoint(service) is None
    assert (
        aws.endpoint(service, "eu-west-1", configured.endpoint(service)) == f"https://{service}.eu-west-1.amazonaws.com"
    )


@pytest.mark.parametrize(("service", "host"), [("dynamodb", "dynamodb"), ("sesv2", "email")])
def test_an_empty_endpoint_leaves_botocore_on_the_regions_own(
    monkeypatch: pytest.MonkeyPatch, service: str, host: str
) -> None:
    # The store's DynamoDB client and the mailer's SES v2 client are botocore's, which reads the
    # template's empty AWS_ENDPOINT_URL_<SERVICE> itself: it must ignore it.
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service.upper()}", "")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = botocore.session.Session().create_client(
        service, region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )
    assert client.meta.endpoint_url == f"https://{host}.eu-west-1.amazonaws.com"


@pytest.fixture
def fresh() -> Iterator[None]:
    settings.reset()
    yield
    settings.reset()


def test_a_group_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch, fresh: None) -> None:
    monkeypatch.setenv("AUTH_TOKEN_TTL_SECONDS", "120")
    first = settings.tokens()
    monkeypatch.setenv("AUTH_TOKEN_TTL_SECONDS", "240")
    assert settings.tokens() is first
    assert first.ttl_seconds == 120


def test_reset_reads_the_environment_again(monkeypatch: pytest.MonkeyPatch, fresh: None) -> None:
    monkeypatch.setenv("AUTH_TOKEN_TTL_SECONDS", "120")
    assert settings.tokens().ttl_seconds == 120
    monkeypatch.setenv("AUTH_TOKEN_TTL_SECONDS", "240")
    settings.reset()
    assert settings.tokens().ttl_seconds == 240


def test_a_group_fails_by_name_when_the_environment_lacks_a_setting(
    monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    monkeypatch.delenv("AUTH_TABLE_NAME", raising=False)
    with pytest.raises(SettingsError, match="AUTH_TABLE_NAME"):
        settings.table()


# Each function requires only what its route uses: its cold start, in a fresh interpreter.

_IMPORT_HANDLER = "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app"
_BASE = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}


def cold_start(function: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, this repository's handler
        [sys.executable, "-c", _IMPORT_HANDLER, str(ROOT / "functions" / function), str(ROOT / "layers" / "auth")],
        env={**_BASE, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_authorizer_needs_the_keys_and_the_table_of_sessions() -> None:
    assert cold_start("authorizer", AUTH_TABLE_NAME="users", **KEY_FILE).returncode == 0
    assert "AUTH_JWKS_FILE" in cold_start("authorizer", AUTH_TABLE_NAME="users").stderr
    assert "AUTH_TABLE_NAME" in cold_start("authorizer", **KEY_FILE).stderr


def test_logout_needs_the_table_and_no_keys() -> None:
    assert cold_start("logout", AUTH_TABLE_NAME="users").returncode == 0
    assert "AUTH_TABLE_NAME" in cold_start("logout").stderr


def test_the_reset_request_needs_the_mailer_and_the_mailer_a_way_to_mail_and_the_keys() -> None:
    assert cold_start("password_reset", AUTH_TABLE_NAME="users", AUTH_RESET_MAILER="mailer").returncode == 0
    assert "AUTH_RESET_MAILER" in cold_start("password_reset", AUTH_TABLE_NAME="users").stderr
    mailer = {"AUTH_TABLE_NAME": "users", "AUTH_MAIL_SENDER": "a@example.com", **KEY_FILE}
    assert cold_start("password_reset_mailer", **mailer).returncode == 0
    assert "AUTH_JWKS_FILE" in cold_start("password_reset_mailer", **{**mailer, "AUTH_JWKS_FILE": ""}).stderr
    without_sender = cold_start("password_reset_mailer", **{**mailer, "AUTH_MAIL_SENDER": ""})
    assert without_sender.returncode != 0
    # Logged before the import fails, as the function's log shows it, with the stack's parameter named.
    (logged,) = [json.loads(line) for line in without_sender.stdout.splitlines() if "cannot start" in line]
    assert logged["level"] == "ERROR"
    assert logged["message"].startswith("the password-reset mailer cannot start: AUTH_MAIL_SENDER is not set")
    assert "MailSenderAddress" in logged["message"]
    assert "SettingsError: AUTH_MAIL_SENDER is not set" in without_sender.stderr


def test_me_needs_the_table_and_no_keys() -> None:
    assert cold_start("me", AUTH_TABLE_NAME="users").returncode == 0
    assert "AUTH_TABLE_NAME" in cold_start("me").stderr


@pytest.mark.parametrize("function", ["signup", "login", "password", "password_reset_confirm"])
def test_the_routes_that_issue_tokens_need_the_table_and_the_keys(function: str) -> None:
    assert cold_start(function, AUTH_TABLE_NAME="users", **KEY_FILE).returncode == 0
    assert "AUTH_TABLE_NAME" in cold_start(function, **KEY_FILE).stderr
    assert "AUTH_JWKS_FILE" in cold_start(function, AUTH_TABLE_NAME="users").stderr
