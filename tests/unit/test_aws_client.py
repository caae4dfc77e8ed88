"""The standard-library AWS client (and the secret read through it): Signature Version 4
against AWS's own published examples and against botocore's signer, and where it sends its request."""

from __future__ import annotations

import datetime
import hashlib
import json

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from lambda_auth import aws as aws_client
from lambda_auth import secretsmanager
from lambda_auth.aws import AwsError, Credentials
from lambda_auth.secretsmanager import SecretsManagerError
from lambda_auth.settings import AwsSettings

aws = AwsSettings.from_environment

# The credentials and time of AWS's Signature Version 4 test suite and documentation.
EXAMPLE = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
EXAMPLE_DATE = "20150830T123600Z"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def signature(headers: dict[str, str]) -> str:
    return headers["Authorization"].rpartition("Signature=")[2]


def unsigned(headers: dict[str, str]) -> dict[str, str]:
    """The headers that were signed: all but Authorization."""
    return {name: value for name, value in headers.items() if name != "Authorization"}


# AWS's published examples


def test_get_vanilla_signs_as_the_aws_test_suite_says() -> None:
    headers = aws_client.sign(
        "GET", "https://example.amazonaws.com/", {}, b"", EXAMPLE, "us-east-1", "service", EXAMPLE_DATE
    )
    request, _ = aws_client.canonical_request("GET", "https://example.amazonaws.com/", unsigned(headers), EMPTY_SHA256)
    assert request == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EMPTY_SHA256
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )
    assert headers["X-Amz-Date"] == EXAMPLE_DATE


def test_post_vanilla_signs_as_the_aws_test_suite_says() -> None:
    headers = aws_client.sign(
        "POST", "https://example.amazonaws.com/", {}, b"", EXAMPLE, "us-east-1", "service", EXAMPLE_DATE
    )
    assert signature(headers) == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"


def test_query_parameters_are_signed_in_sorted_order_as_the_aws_test_suite_says() -> None:
    headers = aws_client.sign(
        "GET",
        "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        {},
        b"",
        EXAMPLE,
        "us-east-1",
        "service",
        EXAMPLE_DATE,
    )
    assert signature(headers) == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"


def test_the_iam_list_users_example_of_the_aws_documentation_signs_as_documented() -> None:
    url = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08"
    content_type = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert aws_client.signing_key(EXAMPLE.secret_access_key, "20150830", "us-east-1", "iam").hex() == (
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    )
    headers = aws_client.sign("GET", url, content_type, b"", EXAMPLE, "us-east-1", "iam", EXAMPLE_DATE)
    request, _ = aws_client.canonical_request("GET", url, unsigned(headers), EMPTY_SHA256)
    assert hashlib.sha256(request.encode()).hexdigest() == (
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


# The request this client sends, signed as botocore signs it


@pytest.mark.parametrize("session_token", [None, "FQoGZXIvYXdzEXAMPLESESSIONTOKEN"])
def test_a_get_secret_value_request_is_signed_as_botocore_signs_it(
    session_token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: datetime.datetime(2015, 8, 30, 12, 36))
    credentials = Credentials("AKIAEXAMPLE", "secret/key+example", session_token)
    url = "https://secretsmanager.eu-west-1.amazonaws.com/"
    body = json.dumps({"SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys-AbCdEf"}).encode()
    target = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"}
    ours = aws_client.sign("POST", url, target, body, credentials, "eu-west-1", "secretsmanager", EXAMPLE_DATE)

    reference = AWSRequest(method="POST", url=url, data=body, headers=target)
    botocore_credentials = BotocoreCredentials(credentials.access_key_id, credentials.secret_access_key, session_token)
    SigV4Auth(botocore_credentials, "secretsmanager", "eu-west-1").add_auth(reference)

    assert ours["Authorization"] == reference.headers["Authorization"]
    assert ours.get("X-Amz-Security-Token") == reference.headers.get("X-Amz-Security-Token")


# Credentials, region and endpoint


def test_credentials_come_from_the_environment_lambda_gives_a_function() -> None:
    env = {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "token"}
    assert Credentials.from_settings(AwsSettings.from_environment(env)) == Credentials("ASIAEXAMPLE", "s3cr3t", "token")


def test_missing_credentials_are_named() -> None:
    with pytest.raises(AwsError, match="AWS_SECRET_ACCESS_KEY"):
        Credentials.from_settings(AwsSettings.from_environment({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}))


@pytest.mark.parametrize("variable", ["AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"])
@pytest.mark.parametrize("line_break", ["\r", "\n", "\r\n"])
def test_a_line_break_in_the_credentials_is_a_secrets_manager_error(variable: str, line_break: str) -> None:
    env = {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "token"}
    env[variable] = f"half{line_break}X-Injected: yes"
    with pytest.raises(SecretsManagerError, match=variable):
        secretsmanager.get_secret_string("arn:aws:secretsmanager:us-east-1:123456789012:secret:keys", env)


def test_reading_a_secret_without_credentials_names_the_secret_and_what_is_missing() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf"
    with pytest.raises(SecretsManagerError) as failure:
        secretsmanager.get_secret_string(arn, {"AWS_REGION": "us-east-1"})
    assert arn in str(failure.value) and "AWS_ACCESS_KEY_ID" in str(failure.value)


def test_the_secret_key_and_session_token_never_appear_in_a_repr() -> None:
    shown = repr(Credentials("AKIAEXAMPLE", "s3cr3t-value", "t0ken-value"))
    assert "AKIAEXAMPLE" in shown
    assert "s3cr3t-value" not in shown and "t0ken-value" not in shown


def test_the_region_of_a_secret_arn_is_the_arn_s_own() -> None:
    arn = "arn:aws:secretsmanager:ap-south-1:123456789012:secret:keys-AbCdEf"
    assert aws_client.region_of(arn, aws({"AWS_REGION": "eu-west-1"})) == "ap-south-1"


def test_the_region_of_a_secret_name_is_the_function_s() -> None:
    assert aws_client.region_of("keys", aws({"AWS_REGION": "eu-west-1"})) == "eu-west-1"
    assert aws_client.region_of("keys", aws({"AWS_DEFAULT_REGION": "us-east-2"})) == "us-east-2"
    with pytest.raises(AwsError, match="keys"):
        aws_client.region_of("keys", aws({}))


def endpoint_for(env: dict[str, str]) -> str:
    return aws_client.endpoint("secretsmanager", "eu-west-1", aws(env).endpoint("secretsmanager"))


def test_the_endpoint_is_the_region_s_unless_boto3_s_override_is_set() -> None:
    assert endpoint_for({}) == "https://secretsmanager.eu-west-1.amazonaws.com"
    assert aws_client.endpoint("secretsmanager", "cn-north-1") == "https://secretsmanager.cn-north-1.amazonaws.com.cn"
    assert endpoint_for({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000/"}) == "http://127.0.0.1:5000"
    overrides = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ENDPOINT_URL_SECRETSMANAGER": "http://127.0.0.1:6000",
    }
    assert endpoint_for(overrides) == "http://127.0.0.1:6000"


def test_an_endpoint_that_is_not_http_is_refused_by_name() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": "ftp://127.0.0.1:21"}
    with pytest.raises(SecretsManagerError, match=r"ftp://127\.0\.0\.1:21"):
        secretsmanager.get_secret_string("arn:aws:secretsmanager:us-east-1:123456789012:secret:keys", env)
