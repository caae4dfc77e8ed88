"""Lambda's Invoke API of `lambda-auth serve` and `lambda-auth invoke`, over HTTP on loopback: it runs a function
only for a request signed with the run's key within five minutes, to a loopback Host, without an Origin. What a
web page can send (a simple POST with its Origin, or to its own name resolved to 127.0.0.1) gets a 403 that holds
no CORS header, and runs nothing."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from lambda_auth import aws
from lambda_auth_cli import local_aws
from lambda_auth_cli.server import lambda_endpoint

PATH = "/2015-03-31/functions/EchoFunction/invocations"
BODY = b'{"email": "ada@example.com"}'


@dataclass
class Echo:
    """A function that answers its event, and remembers it."""

    events: list[Any] = field(default_factory=list)

    def invoke(self, event: Any) -> Any:
        self.events.append(event)
        return {"echo": event}


@dataclass(frozen=True)
class Endpoint:
    url: str
    function: Echo


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    function = Echo()
    with lambda_endpoint(local_aws.LambdaInvokeApi({"EchoFunction": function})) as url:
        yield Endpoint(url, function)


def signed(url: str, seconds_ago: float = 0, host: str | None = None) -> dict[str, str]:
    """Headers of an Invoke request signed with the run's key (this process's, as the functions get it)."""
    key = aws.Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    date = time.strftime(local_aws.AMZ_DATE_FORMAT, time.gmtime(time.time() - seconds_ago))
    target = f"http://{host}{PATH}" if host else f"{url}{PATH}"
    return aws.sign("POST", target, {"Content-Type": "application/json"}, BODY, key, "us-east-1", "lambda", date)


def post(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request("POST", PATH, body=BODY, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read())
    finally:
        connection.close()


def test_a_request_signed_now_runs_the_function(endpoint: Endpoint) -> None:
    status, _, answer = post(endpoint.url, signed(endpoint.url))
    assert (status, answer) == (200, {"echo": {"email": "ada@example.com"}})


def test_a_request_signed_over_five_minutes_ago_is_refused_and_runs_nothing(endpoint: Endpoint) -> None:
    status, _, answer = post(endpoint.url, signed(endpoint.url, seconds_ago=360))
    assert status == 403 and answer["message"].startswith("Signature expired: ")
    assert endpoint.function.events == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain", "Origin": "https://evil.example"},  # a page's fetch, no preflight
        {"Content-Type": "application/json"},  # unsigned, from anything on this machine
    ],
    ids=["page", "unsigned"],
)
def test_what_a_web_page_can_send_is_refused_without_cors_headers(endpoint: Endpoint, headers: dict[str, str]) -> None:
    status, answer_headers, _ = post(endpoint.url, headers)
    assert status == 403
    assert not [name for name in answer_headers if name.startswith("access-control-")]
    assert endpoint.function.events == []


def test_a_signed_request_with_an_origin_is_refused(endpoint: Endpoint) -> None:
    status, _, answer = post(endpoint.url, {**signed(endpoint.url), "Origin": "http://127.0.0.1:3000"})
    assert (status, answer["message"]) == (403, "the local Lambda answers no web page (the request has an Origin)")
    assert endpoint.function.events == []


def test_a_request_to_a_name_that_is_not_loopback_is_refused(endpoint: Endpoint) -> None:
    # A page on a site whose name resolves to 127.0.0.1 (DNS rebinding) sends that name as Host.
    headers = signed(endpoint.url, host=f"rebound.evil.example:{urlsplit(endpoint.url).port}")
    status, _, answer = post(endpoint.url, headers)
    assert (status, answer["message"]) == (403, "the local Lambda answers only to a loopback Host or its own address")
    assert endpoint.function.events == []
