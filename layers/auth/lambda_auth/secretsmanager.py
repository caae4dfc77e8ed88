"""Secrets Manager's GetSecretValue with the standard library alone: one signed HTTPS POST.

The functions read the token keys from Secrets Manager at cold start, the authorizer
included, whose cold start is on the path of every first request. boto3 would cost more
there than the rest of that cold start together: importing botocore, loading its service
models and building a client take a few hundred milliseconds at the authorizer's memory
size. The API call itself is small: a JSON POST signed with Signature Version 4
(`sign`, checked against AWS's published examples), with the credentials, region and
endpoint overrides that Lambda and boto3 define in the environment (`settings.aws`):

- credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (Lambda
  sets all three from the function's role);
- region: the secret ARN's own, else AWS_REGION or AWS_DEFAULT_REGION;
- endpoint: AWS_ENDPOINT_URL_SECRETSMANAGER or AWS_ENDPOINT_URL (as boto3 reads them,
  e.g. for moto's server), else the region's public endpoint.

Each attempt is bounded by a socket timeout, a failed attempt is retried once, and the
whole read by a deadline that also stops a response that arrives too slowly; a failure
names the secret, never its value.
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
from urllib.parse import quote, unquote, urlsplit

from . import settings

SERVICE = "secretsmanager"
ALGORITHM = "AWS4-HMAC-SHA256"
TIMEOUT_SECONDS = 1.0  # per connect and per read; Secrets Manager answers in tens of milliseconds
ATTEMPTS = 2
DEADLINE_SECONDS = 3.0  # the whole read, attempts and a slowly arriving answer included
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_UNRESERVED = "-_.~"  # with letters and digits, what SigV4's URI encoding leaves as is


class SecretsManagerError(RuntimeError):
    """The secret could not be read; the message names it and the reason, never its value."""


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
            raise SecretsManagerError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
        for name, value in (("AWS_ACCESS_KEY_ID", aws.access_key_id), ("AWS_SESSION_TOKEN", aws.session_token)):
            if value and ("\r" in value or "\n" in value):  # it would end the request's header line
                raise SecretsManagerError(f"{name} holds a line break")
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
    path = parts.path or "/"  # used as given: this client only ever posts to "/"
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
    return hmac.new(
        signing_key(secret_access_key, date, region, service), string_to_sign.encode(), "sha256"
    ).hexdigest()


def _region(secret_id: str, aws: settings.AwsSettings) -> str:
    # arn:aws:secretsmanager:<region>:<account>:secret:<name>: the secret's region is in its ARN.
    fields = secret_id.split(":")
    if len(fields) >= 7 and fields[0] == "arn" and fields[3]:
        return fields[3]
    region = aws.region
    if not region:
        raise SecretsManagerError(f"no region for the secret {secret_id}: set AWS_REGION")
    return region


def endpoint(region: str, override: str | None = None) -> str:
    """Where Secrets Manager is reached: boto3's endpoint override if any, else the region's own."""
    if override:
        return override.rstrip("/")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{SERVICE}.{region}.{domain}"


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout)  # verifies the certificate
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.netloc, timeout=timeout)
    raise SecretsManagerError(f"the Secrets Manager endpoint {url} is not an http(s) URL")


def _cut(connection: http.client.HTTPConnection) -> None:
    if connection.sock is not None:
        with contextlib.suppress(OSError):  # already closed
            connection.sock.shutdown(socket.SHUT_RDWR)


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


def get_secret_string(
    secret_id: str,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_SECONDS,
    attempts: int = ATTEMPTS,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> str:
    """The SecretString of `secret_id` (a name or ARN), or `SecretsManagerError` naming it.

    `env` stands for the process's environment (tests pass their own).
    """
    aws = settings.aws() if env is None else settings.AwsSettings.from_environment(env)
    region = _region(secret_id, aws)
    url = endpoint(region, aws.secretsmanager_endpoint) + "/"
    try:
        credentials = Credentials.from_settings(aws)
    except SecretsManagerError as error:
        raise SecretsManagerError(f"cannot read the secret {secret_id}: {error}") from None
    body = json.dumps({"SecretId": secret_id, "VersionStage": "AWSCURRENT"}).encode()
    reason = "no attempt made"
    deadline = time.monotonic() + deadline_seconds
    for _ in range(max(1, attempts)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            reason = f"no answer within {deadline_seconds:g} s"
            break
        headers = sign(
            "POST",
            url,
            {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"},
            body,
            credentials,
            region,
            SERVICE,
            time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        )
        connection = _connection(url, min(timeout, remaining))
        # A socket timeout bounds each read, not an answer that trickles in: at the deadline,
        # the watchdog shuts the socket, and the read in progress fails.
        watchdog = threading.Timer(remaining, _cut, args=(connection,))
        watchdog.start()
        try:
            connection.request("POST", urlsplit(url).path or "/", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            late = time.monotonic() >= deadline
            reason = f"no answer within {deadline_seconds:g} s" if late else f"{type(error).__name__}: {error}"
            continue
        finally:
            watchdog.cancel()
            connection.close()
        if response.status == 200:
            try:
                value = json.loads(payload)["SecretString"]
            except (ValueError, KeyError, TypeError):
                raise SecretsManagerError(f"the secret {secret_id} has no SecretString") from None
            if not isinstance(value, str):
                raise SecretsManagerError(f"the secret {secret_id} has no SecretString")
            return value
        error_type = _error_type(response, payload)
        reason = f"HTTP {response.status}, {error_type}"
        if response.status not in _RETRYABLE_STATUSES and error_type != "ThrottlingException":
            break  # a missing secret or a refused permission will not change on a second try
    raise SecretsManagerError(f"cannot read the secret {secret_id}: {reason}")
