"""The embedded DynamoDB of `lambda-auth serve` answers its own run's signed requests and nothing a web page can send.

A page open in the developer's browser can reach any port on loopback. It cannot sign with
the run's key (kept in the server's process and its owner-only record), and its requests
carry an Origin; a page on another site that resolves its own name to 127.0.0.1 sends
that name as Host. Each is refused with a 403 that holds no CORS header.
"""

from __future__ import annotations

import calendar
import datetime
import http.client
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError

from lambda_auth import aws
from lambda_auth_cli import local_aws
from tests.conftest import LocalStack

TARGET = "DynamoDB_20120810.ListTables"


@pytest.fixture(scope="module")
def embedded() -> Iterator[local_aws.EmbeddedDynamoDB]:
    with local_aws.embedded_dynamodb() as running:
        yield running


def raw(endpoint: str, headers: dict[str, str], method: str = "POST", body: bytes = b"{}") -> http.client.HTTPResponse:
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    connection.request(method, "/", body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def raw_answer(endpoint: str, headers: dict[str, str]) -> tuple[int, Any]:
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request("POST", "/", body=b"{}", headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def client(endpoint: str, key_id: str, secret: str) -> object:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def test_the_runs_own_signed_requests_are_answered(embedded: local_aws.EmbeddedDynamoDB) -> None:
    credentials = embedded.credentials
    tables = client(embedded.endpoint_url, credentials.access_key_id, credentials.secret_access_key)
    assert "TableNames" in tables.list_tables()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("key_id", "secret"),
    [("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), (None, "a-guessed-secret-key")],
    ids=["another-key", "the-key-id-with-another-secret"],
)
def test_requests_signed_with_other_credentials_are_refused(
    embedded: local_aws.EmbeddedDynamoDB, key_id: str | None, secret: str
) -> None:
    tables = client(embedded.endpoint_url, key_id or embedded.credentials.access_key_id, secret)
    with pytest.raises(ClientError) as refusal:
        tables.list_tables()  # type: ignore[attr-defined]
    assert refusal.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_unsigned_request_that_would_overwrite_an_item_is_refused(stack: LocalStack) -> None:
    # What a page could send: PutItem on a credentials item, to replace a password hash.
    body = {"TableName": stack.table_name, "Item": {"pk": {"S": "email#ada@example.com"}, "user_id": {"N": "1"}}}
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem"}
    assert raw(stack.endpoint_url, headers, body=json.dumps(body).encode()).status == 403
    item = boto3.client("dynamodb", endpoint_url=stack.endpoint_url).get_item(
        TableName=stack.table_name, Key={"pk": {"S": "email#ada@example.com"}}
    )
    assert "Item" not in item


def signed_list_tables(embedded: local_aws.EmbeddedDynamoDB, seconds_from_now: float) -> dict[str, str]:
    """ListTables signed with the run's key as of `seconds_from_now` (the layer's signer takes the date)."""
    credentials = embedded.credentials
    key = aws.Credentials(credentials.access_key_id, credentials.secret_access_key)
    date = time.strftime(local_aws.AMZ_DATE_FORMAT, time.gmtime(time.time() + seconds_from_now))
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET}
    return aws.sign("POST", f"{embedded.endpoint_url}/", headers, b"{}", key, "us-east-1", "dynamodb", date)


def test_a_request_signed_with_the_runs_key_over_five_minutes_ago_is_refused(
    embedded: local_aws.EmbeddedDynamoDB,
) -> None:
    # What a log or a proxy saw once cannot be sent again later.
    stale = raw_answer(embedded.endpoint_url, signed_list_tables(embedded, -360))
    fresh = raw_answer(embedded.endpoint_url, signed_list_tables(embedded, 0))
    assert (stale[0], stale[1]["__type"]) == (403, "UnrecognizedClientException")
    assert stale[1]["message"].startswith("Signature expired: ")
    assert (fresh[0], "TableNames" in fresh[1]) == (200, True)


def test_a_request_boto3_retries_is_signed_again_when_it_is_sent_again(
    embedded: local_aws.EmbeddedDynamoDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore signs each attempt as it sends it: an attempt long ago that failed is retried with a fresh date,
    # so the guard's five minutes never refuse a retry of the run's own clients (boto3, PynamoDB).
    real_clock = botocore.auth.get_current_datetime
    clock = [real_clock() - datetime.timedelta(minutes=10)]  # the first attempt's signing, ten minutes ago
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: clock.pop() if clock else real_clock())
    sent: list[str] = []

    def first_attempt_cut(request: AWSRequest, **_: Any) -> None:
        sent.append(request.headers["X-Amz-Date"].decode())
        if len(sent) == 1:
            raise ConnectionClosedError(endpoint_url=request.url)

    credentials = embedded.credentials
    tables = client(embedded.endpoint_url, credentials.access_key_id, credentials.secret_access_key)
    tables.meta.events.register("before-send.dynamodb.ListTables", first_attempt_cut)  # type: ignore[attr-defined]
    assert "TableNames" in tables.list_tables()  # type: ignore[attr-defined]
    first, retry = (calendar.timegm(time.strptime(date, local_aws.AMZ_DATE_FORMAT)) for date in sent)
    assert retry - first >= 590 and abs(retry - time.time()) < 60


@pytest.mark.parametrize("method", ["POST", "OPTIONS"])
def test_a_request_with_an_origin_is_refused_without_cors_headers(
    embedded: local_aws.EmbeddedDynamoDB, method: str
) -> None:
    headers = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-amz-target,content-type",
        "X-Amz-Target": TARGET,
    }
    response = raw(embedded.endpoint_url, headers, method=method)
    assert response.status == 403
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "192.168.1.10"])
def test_a_request_to_a_name_that_is_not_loopback_is_refused(embedded: local_aws.EmbeddedDynamoDB, host: str) -> None:
    assert raw(embedded.endpoint_url, {"Host": host, "X-Amz-Target": TARGET}).status == 403


def test_each_run_has_credentials_of_its_own() -> None:
    with local_aws.embedded_dynamodb() as first, local_aws.embedded_dynamodb() as second:
        assert first.credentials != second.credentials
        assert first.credentials.secret_access_key not in repr(first)


BRIDGE = "172.17.0.1"  # Docker's default bridge gateway, where sam local's containers reach the host


def signed_environ(credentials: local_aws.LocalCredentials, host: str, **headers: str) -> dict[str, Any]:
    """A WSGI environ for a ListTables request to `host`, signed with `credentials`."""
    request = AWSRequest("POST", f"http://{host}/", data=b"{}", headers={"X-Amz-Target": TARGET, **headers})
    key = Credentials(credentials.access_key_id, credentials.secret_access_key)
    SigV4Auth(key, "dynamodb", "us-east-1").add_auth(request)
    environ = {f"HTTP_{name.upper().replace('-', '_')}": str(value) for name, value in request.headers.items()}
    return {
        **environ,
        "HTTP_HOST": host,  # signed from the URL, as botocore sends it
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
    }


def guard_status(
    address: str,
    environ: dict[str, Any],
    credentials: local_aws.LocalCredentials,
    after_request: Callable[[], None] | None = None,
) -> str:
    """What the guard in front of a server listening on `address` answers (moto stubbed by a 200)."""
    statuses: list[str] = []

    def moto(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        return [b"{}"]

    guard = local_aws._GuardedMoto(moto, credentials, address, after_request)
    guard(environ, lambda status, headers: statuses.append(status))
    return statuses[0]


@pytest.mark.parametrize(
    ("host", "status"),
    [(f"{BRIDGE}:5000", "200 OK"), ("127.0.0.1:5000", "200 OK"), ("172.17.0.2:5000", "403 Forbidden")],
    ids=["its-own-address", "loopback", "another-address"],
)
def test_on_the_bridge_it_takes_its_own_address_as_host_and_no_other(host: str, status: str) -> None:
    credentials = local_aws.LocalCredentials.fresh()
    assert guard_status(BRIDGE, signed_environ(credentials, host), credentials) == status


def test_on_the_bridge_a_signed_request_with_an_origin_or_another_key_is_still_refused() -> None:
    credentials = local_aws.LocalCredentials.fresh()
    with_origin = signed_environ(credentials, f"{BRIDGE}:5000", Origin="http://172.17.0.1:8080")
    assert guard_status(BRIDGE, with_origin, credentials) == "403 Forbidden"
    other_key = signed_environ(local_aws.LocalCredentials.fresh(), f"{BRIDGE}:5000")
    assert guard_status(BRIDGE, other_key, credentials) == "403 Forbidden"


def test_after_each_answered_request_and_no_refused_one_its_hook_runs() -> None:
    # sam-local's hook copies the mail moto's SES sent into the run's outbox.
    credentials, calls = local_aws.LocalCredentials.fresh(), []
    answered = guard_status(BRIDGE, signed_environ(credentials, f"{BRIDGE}:5000"), credentials, lambda: calls.append(1))
    refused = signed_environ(local_aws.LocalCredentials.fresh(), f"{BRIDGE}:5000")
    assert (answered, guard_status(BRIDGE, refused, credentials, lambda: calls.append(2))) == (
        "200 OK",
        "403 Forbidden",
    )
    assert calls == [1]
