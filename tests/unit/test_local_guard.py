"""The guard of every local stand-in of AWS (the embedded DynamoDB, the local Invoke API, sam local's
start-lambda): `local_aws.refusal` answers only this run's signed requests, signed within five minutes
of now, sent to a loopback Host or the stand-in's own address, without a web page's Origin."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from lambda_auth import aws
from lambda_auth_cli import local_aws

PATH = "/2015-03-31/functions/PasswordResetMailerFunction/invocations"
BODY = b'{"email": "ada@example.com"}'
BRIDGE = "172.17.0.1"


def amz_date(seconds_from_now: float) -> str:
    return time.strftime(local_aws.AMZ_DATE_FORMAT, time.gmtime(time.time() + seconds_from_now))


def signed(
    credentials: local_aws.LocalCredentials,
    host: str = "127.0.0.1:5000",
    date: str | None = None,
    extra: dict[str, str] | None = None,
) -> Callable[[str], str | None]:
    """The header lookup of an Invoke request as the layer's client signs it, with `extra` headers added after."""
    key = aws.Credentials(credentials.access_key_id, credentials.secret_access_key)
    unsigned = {"Content-Type": "application/json"}
    headers = aws.sign("POST", f"http://{host}{PATH}", unsigned, BODY, key, "us-east-1", "lambda", date or amz_date(0))
    headers.update(extra or {})
    by_name = {name.lower(): value for name, value in headers.items()}
    return lambda name: by_name.get(name.lower())


def reason(header: Callable[[str], str | None], credentials: local_aws.LocalCredentials) -> str | None:
    return local_aws.refusal("the local Lambda", "POST", PATH, header, BODY, credentials, BRIDGE)


@pytest.fixture
def credentials() -> local_aws.LocalCredentials:
    return local_aws.LocalCredentials.fresh()


@pytest.mark.parametrize("seconds_ago", [0, 240, -240], ids=["now", "four-minutes-ago", "four-minutes-ahead"])
def test_a_request_signed_within_five_minutes_of_now_is_answered(
    credentials: local_aws.LocalCredentials, seconds_ago: int
) -> None:
    assert reason(signed(credentials, date=amz_date(-seconds_ago)), credentials) is None


def test_a_request_signed_more_than_five_minutes_ago_is_refused_as_aws_refuses_it(
    credentials: local_aws.LocalCredentials,
) -> None:
    stale = amz_date(-360)
    refused = reason(signed(credentials, date=stale), credentials)
    assert refused is not None and refused.startswith(f"Signature expired: {stale} is now earlier than ")


def test_a_request_signed_more_than_five_minutes_ahead_is_refused(credentials: local_aws.LocalCredentials) -> None:
    refused = reason(signed(credentials, date=amz_date(360)), credentials)
    assert refused is not None and refused.startswith("Signature not yet current: ")


def test_a_signature_without_a_signed_date_is_refused(credentials: local_aws.LocalCredentials) -> None:
    header = signed(credentials)
    authorization = (header("Authorization") or "").replace(";x-amz-date", "")

    def without_date(name: str) -> str | None:
        return authorization if name.lower() == "authorization" else header(name)

    assert reason(without_date, credentials) == "the request has no signed X-Amz-Date"


def test_a_stale_date_cannot_be_freshened_without_the_key(credentials: local_aws.LocalCredentials) -> None:
    # A request seen once, sent again later with a new date: its signature no longer matches.
    header = signed(credentials, date=amz_date(-600))
    fresh = amz_date(0)
    assert reason(lambda name: fresh if name.lower() == "x-amz-date" else header(name), credentials) == (
        "the request's signature does not match"
    )


def test_a_signed_request_with_an_origin_is_refused(credentials: local_aws.LocalCredentials) -> None:
    header = signed(credentials, extra={"Origin": "https://evil.example"})
    assert reason(header, credentials) == "the local Lambda answers no web page (the request has an Origin)"


@pytest.mark.parametrize("host", ["evil.example:5000", "172.17.0.2:5000", "192.168.1.10"])
def test_a_signed_request_to_another_host_is_refused(credentials: local_aws.LocalCredentials, host: str) -> None:
    # A page's own name resolved to this machine (DNS rebinding) arrives with that name as Host.
    assert reason(signed(credentials, host=host), credentials) == (
        "the local Lambda answers only to a loopback Host or its own address"
    )


@pytest.mark.parametrize("host", ["127.0.0.1:5000", "localhost:5000", f"{BRIDGE}:5000"])
def test_loopback_and_the_stand_ins_own_address_are_answered(
    credentials: local_aws.LocalCredentials, host: str
) -> None:
    assert reason(signed(credentials, host=host), credentials) is None


def test_another_key_is_refused(credentials: local_aws.LocalCredentials) -> None:
    other = local_aws.LocalCredentials.fresh()
    assert reason(signed(other), credentials) == "the request is not signed with this run's access key"
