"""AWS's APIs with the standard library alone: signed HTTPS requests, for the calls boto3 would make too dear.

The authorizer runs before every authenticated request, so its cold start is the product's
latency: it reads the token keys from Secrets Manager and checks sessions in DynamoDB,
and the password-reset function hands its work to the mailer with one Lambda call. boto3
would cost more there than the rest of those cold starts together: importing botocore,
loading its service models and building a client take a few hundred milliseconds at the
authorizer's memory size. Each of these calls is one request signed with Signature
Version 4 (`sign`, checked against AWS's published examples), with the credentials,
region and endpoint overrides that Lambda and boto3 define in the environment
(`settings.aws`):

- credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (Lambda sets
  all three from the function's role);
- region: a resource ARN's own, else AWS_REGION or AWS_DEFAULT_REGION;
- endpoint: AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL (as boto3 reads them, e.g. for
  moto's server), else the region's public endpoint.

Each attempt is bounded by a socket timeout, a failed attempt is retried, and a call may
have a deadline that also stops an answer that arrives too slowly. A failure says what was
asked and why, never a secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from . import settings

ALGORITHM = "AWS4-HMAC-SHA256"
TIMEOUT_SECONDS = 1.0  # per connect and per read: these services answer in milliseconds
ATTEMPTS = 2
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRYABLE_ERRORS = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "TooManyRequestsException"}
)
_UNRESERVED = "-_.~"  # with letters and digits, what SigV4's URI encoding leaves as is


class AwsError(RuntimeError):
    """A call failed; the message says what was asked and why, never a secret."""


@dataclass(frozen=True)
class Credentials:
    """An access key pair, and the session token that temporary credentials come with."""

    access_key_id: str
    # Out of repr, so that no traceback or log line can show them.
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, aws: settings.AwsSettings) -> Credentials:
        """The credentials Lambda gives a function in its environment."""
        if not aws.access_key_id or not aws.secret_access_key:
            raise AwsError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
        for name, value in (("AWS_ACCESS_KEY_ID", aws.access_key_id), ("AWS_SESSION_TOKEN", aws.session_token)):
            if value and ("\r" in value or "\n" in value):  # it would end the request's header line
                raise AwsError(f"{name} holds a line break")
        return cls(aws.access_key_id, aws.secret_access_key, aws.session_token)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key: HMAC-SHA256 chained over the date, region, service and "aws4_request"."""
    key = _hmac(f"AWS4{secret_access_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def canonical_request(method: str, url: str, headers: Mapping[str, str], payload_hash: str) -> tuple[str, str]:
    """SigV4's canonical form of a request, and its signed headers (every header given)."""
    parts = urlsplit(url)
    path = parts.path or "/"  # used as given: every path this client sends is plain ASCII
    pairs = []
    for item in parts.query.split("&") if parts.query else []:
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe=_UNRESERVED), quote(unquote(value), safe=_UNRESERVED)))
    query = "&".join(f"{name}={value}" for name, value in sorted(pairs))
    canonical = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    signed_headers = ";".join(sorted(canonical))
    header_lines = "".join(f"{name}:{canonical[name]}\n" for name in sorted(canonical))
    return "\n".join([method.upper(), path, query, header_lines, signed_headers, payload_hash]), signed_headers


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str,
    amz_date: str,
) -> dict[str, str]:
    """The headers to send: `headers`, plus Host, X-Amz-Date, the session token and Authorization.

    `amz_date` is the request time as SigV4 writes it, e.g. 20150830T123600Z.
    """
    signed = {"Host": urlsplit(url).netloc, **headers, "X-Amz-Date": amz_date}
    if credentials.session_token:
        signed["X-Amz-Security-Token"] = credentials.session_token
    request, signed_headers = canonical_request(method, url, signed, hashlib.sha256(body).hexdigest())
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    signed["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={signed_headers}, "
        f"Signature={signature(credentials.secret_access_key, amz_date, scope, request)}"
    )
    return signed


def signature(secret_access_key: str, amz_date: str, scope: str, request: str) -> str:
    """SigV4's signature of a canonical request, for the credential scope date/region/service/aws4_request."""
    date, region, service, _ = scope.split("/")
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = signing_key(secret_access_key, date, region, service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def region_of(resource: str, aws: settings.AwsSettings) -> str:
    """A resource's region: its ARN's (arn:aws:<service>:<region>:...), else the function's."""
    fields = resource.split(":")
    if len(fields) >= 6 and fields[0] == "arn" and fields[3]:
        return fields[3]
    if not aws.region:
        raise AwsError(f"no region for {resource}: set AWS_REGION")
    return aws.region


def endpoint(service: str, region: str, override: str | None = None) -> str:
    """Where `service` is reached: boto3's endpoint override if any, else the region's own."""
    if override:
        return override.rstrip("/")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{service}.{region}.{domain}"


class Answer(NamedTuple):
    status: int
    body: bytes
    error_type: str  # e.g. ResourceNotFoundException; "" for a success

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


_XML_ERROR_CODE = re.compile(rb"<Code>([A-Za-z0-9.]{1,100})</Code>")


def _error_type(response: http.client.HTTPResponse, body: bytes) -> str:
    """The error's type, e.g. ResourceNotFoundException: its name only, never the body."""
    # JSON services name it in a header and in __type; some front ends answer in XML.
    kind = response.getheader("x-amzn-ErrorType", "").partition(":")[0]
    if not kind:
        try:
            kind = str(json.loads(body).get("__type", ""))
        except (ValueError, AttributeError):
            match = _XML_ERROR_CODE.search(body)
            kind = match.group(1).decode() if match else ""
    return kind.rpartition("#")[2] or "an unreadable error"


def _connect(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout)  # verifies the certificate
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.netloc, timeout=timeout)
    raise AwsError(f"the endpoint {url} is not an http(s) URL")


def _cut(connection: http.client.HTTPConnection) -> None:
    if connection.sock is not None:
        with contextlib.suppress(OSError):  # already closed
            connection.sock.shutdown(socket.SHUT_RDWR)


# Kept-alive connections, one per thread and endpoint, for calls made on every request:
# a new TLS connection would cost more than the call.
_kept = threading.local()


def _kept_connection(url: str, timeout: float) -> http.client.HTTPConnection:
    connections: dict[str, http.client.HTTPConnection] = _kept.__dict__.setdefault("connections", {})
    origin = urlsplit(url)._replace(path="", query="", fragment="").geturl()
    connection = connections.get(origin)
    if connection is None:
        connection = connections[origin] = _connect(url, timeout)
    connection.timeout = timeout
    if connection.sock is not None:
        connection.sock.settimeout(timeout)
    return connection


def _forget(connection: http.client.HTTPConnection) -> None:
    connections: dict[str, http.client.HTTPConnection] = _kept.__dict__.get("connections", {})
    for origin, kept in list(connections.items()):
        if kept is connection:
            del connections[origin]
    connection.close()


def call(
    service: str,
    region: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    what: str,
    aws: settings.AwsSettings | None = None,
    timeout: float = TIMEOUT_SECONDS,
    attempts: int = ATTEMPTS,
    deadline_seconds: float | None = None,
    keep_alive: bool = False,
) -> Answer:
    """POST `body` to `service`'s `path`, signed; its answer, success or error; `AwsError` if none came.

    `what` names the call in errors. Transport failures and throttling are retried up to
    `attempts` in all; with `deadline_seconds`, no answer may take longer in all, even one
    that trickles in (a watchdog then shuts the socket).
    """
    aws = settings.aws() if aws is None else aws
    try:
        credentials = Credentials.from_settings(aws)
    except AwsError as error:
        raise AwsError(f"{what}: {error}") from None
    url = endpoint(service, region, aws.endpoint(service)) + path
    deadline = time.monotonic() + deadline_seconds if deadline_seconds is not None else None
    reason = "no attempt made"
    for _ in range(max(1, attempts)):
        remaining = deadline - time.monotonic() if deadline is not None else timeout
        if remaining <= 0:
            reason = f"no answer within {deadline_seconds:g} s"
            break
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        signed = sign("POST", url, headers, body, credentials, region, service, amz_date)
        connection = _kept_connection(url, min(timeout, remaining)) if keep_alive else _connect(url, timeout)
        if not keep_alive:
            connection.timeout = min(timeout, remaining)
        watchdog = threading.Timer(remaining, _cut, args=(connection,)) if deadline is not None else None
        if watchdog is not None:
            watchdog.start()
        try:
            connection.request("POST", urlsplit(url).path or "/", body=body, headers=signed)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            late = deadline is not None and time.monotonic() >= deadline
            reason = f"no answer within {deadline_seconds:g} s" if late else f"{type(error).__name__}: {error}"
            _forget(connection)
            continue
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if not keep_alive:
                connection.close()
        if response.status < 300:
            return Answer(response.status, payload, "")
        answer = Answer(response.status, payload, _error_type(response, payload))
        if response.status not in _RETRYABLE_STATUSES and answer.error_type not in _RETRYABLE_ERRORS:
            return answer  # a missing resource or a refused permission will not change on a second try
        reason = f"HTTP {response.status}, {answer.error_type}"
    raise AwsError(f"{what}: {reason}")


def json_call(
    service: str, target: str, payload: dict[str, Any], region: str, *, what: str, **options: Any
) -> dict[str, Any]:
    """One call of an AWS JSON protocol API (X-Amz-Target), e.g. DynamoDB_20120810.GetItem: its answer.

    An error answer is an `AwsError` naming its type.
    """
    version = "1.0" if service == "dynamodb" else "1.1"
    headers = {"Content-Type": f"application/x-amz-json-{version}", "X-Amz-Target": target}
    answer = call(service, region, "/", headers, json.dumps(payload).encode(), what=what, **options)
    if answer.error_type:
        raise AwsError(f"{what}: HTTP {answer.status}, {answer.error_type}")
    result: dict[str, Any] = answer.json()
    return result
