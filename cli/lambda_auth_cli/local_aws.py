"""What stands in for an AWS account locally: the embedded DynamoDB and its table, Lambda's Invoke API, the
functions' environment (`apply` is the one place this program sets what the layer reads).

The embedded DynamoDB (moto's server) and the Invoke API listen on loopback, where any web page the developer
has open could reach them. So they answer only requests signed with this run's random key (kept in the
server's owner-only record) or a key of a function's role (`roles`), sent to a loopback Host, without an Origin:
a page's fetch carries an Origin, cannot sign, and gets a 403 with no CORS headers. As in AWS, a signature holds
for five minutes either side of its X-Amz-Date: a signed request seen once cannot be sent again later. A role's key
may do what its role grants, and nothing else (AccessDeniedException, as in AWS). For `sam local`'s containers they
listen on the Docker bridge's address instead, and take that address as Host too (a name a page could point there
is refused).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import string
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from lambda_auth import settings
from lambda_auth.aws import canonical_request, signature

from . import iam, template
from .console import CliError
from .template import DEFAULT_REGION, LOCAL_ACCOUNT_ID

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
NO_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens, so a call fails here and goes nowhere
OUTBOX_NAME = "outbox.jsonl"
QUIET_LOG_LEVEL = "WARNING"
SIGNATURE_WINDOW_SECONDS = 300  # how far a signature's X-Amz-Date may be from now, as AWS allows
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def apply(environment: Mapping[str, str]) -> None:
    """Set variables in this process's environment, and have the layer read its settings again."""
    os.environ.update(environment)
    settings.reset()


@dataclass(frozen=True)
class LocalCredentials:
    """An access key made for one run of the embedded DynamoDB."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    @classmethod
    def fresh(cls) -> LocalCredentials:
        key_id = "LOCAL" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(15))
        return cls(key_id, secrets.token_urlsafe(30))


def use_endpoint(
    endpoint_url: str, table_name: str = template.LOCAL_TABLE_NAME, credentials: LocalCredentials | None = None
) -> None:
    """Point this process's AWS clients, and the layer's store, at a table on a local DynamoDB endpoint."""
    # DynamoDB Local takes any key: the environment's, else placeholders, so boto3 looks for no real ones.
    placeholders = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
    }
    variables = {name: value for name, value in placeholders.items() if not os.environ.get(name)}
    if credentials is not None:  # the embedded DynamoDB takes only its run's key
        os.environ.pop("AWS_SESSION_TOKEN", None)
        variables.update(
            AWS_ACCESS_KEY_ID=credentials.access_key_id, AWS_SECRET_ACCESS_KEY=credentials.secret_access_key
        )
    apply({**variables, ENDPOINT_VARIABLE: endpoint_url, "AUTH_TABLE_NAME": table_name})


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine's loopback."""
    name = host.strip("[]").lower()
    address = _ip(name)
    return address.is_loopback if address is not None else name == "localhost" or name.endswith(".localhost")


_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<scope>[^,]+), SignedHeaders=(?P<headers>[^,]+),"
    r" Signature=(?P<signature>[0-9a-f]{64})"
)


class Access(Protocol):
    """The keys of the functions' roles, besides the run's own, and what each may do (`roles.Roles`)."""

    def credentials(self, access_key_id: str) -> LocalCredentials | None: ...

    def denial(self, access_key_id: str, requests: list[iam.Request]) -> str | None: ...


def _signer(header: Callable[[str], str | None], own: LocalCredentials, access: Access | None) -> LocalCredentials:
    """The credentials whose key signed the request, by the key its Authorization names: a role's, else `own`."""
    match = _AUTHORIZATION.fullmatch(header("Authorization") or "")
    found = access.credentials(match["key"]) if access is not None and match is not None else None
    return found or own


def _requests(header: Callable[[str], str | None], body: bytes, partition_key: str) -> list[iam.Request]:
    """What IAM authorizes for a signed request to moto: a DynamoDB call item by item; another service's by its
    operation's name alone (on any resource, which a grant on a named resource does not cover)."""
    match = _AUTHORIZATION.fullmatch(header("Authorization") or "")
    scope: str = match["scope"] if match else ""
    _, region, service, *_ = [*scope.split("/"), "", "", ""]
    operation = (header("X-Amz-Target") or "").rpartition(".")[2]
    if service != "dynamodb":
        return [iam.Request(f"{service}:{operation}", "*")]
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        document = {}
    return iam.dynamodb_requests(operation, document, region, LOCAL_ACCOUNT_ID, partition_key)


class _GuardedMoto:
    """moto's server, answering only signed requests from this machine, one at a time: the run's own key may do
    anything, a role's key what its role grants.

    DynamoDB applies each request atomically (a conditional update, an ADD, a transaction);
    moto's backend takes no locks, so concurrent requests could interleave inside one: the
    lock lets moto handle one request at a time, as the guarantees need.
    """

    def __init__(
        self,
        app: Any,
        credentials: LocalCredentials,
        address: str,
        after_request: Callable[[], None] | None = None,
        access: Access | None = None,
    ):
        self._app = app
        self._credentials = credentials
        self._address = address  # the address it listens on, which its clients may name as Host
        self._after_request = after_request
        self._access = access
        self._partition_key = _partition_key() if access is not None else ""
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        refusal = self._refusal(environ, body)
        if refusal is not None:
            start_response("403 Forbidden", [("Content-Type", "application/x-amz-json-1.0")])
            return [json.dumps({"__type": "UnrecognizedClientException", "message": refusal}).encode()]
        denial = self._denial(environ, body)
        if denial is not None:  # as DynamoDB answers a call its caller's policies do not allow
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
            error = {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": denial}
            return [json.dumps(error).encode()]
        environ["wsgi.input"] = io.BytesIO(body)
        with self._lock:
            answer = list(self._app(environ, start_response))
            if self._after_request is not None:
                self._after_request()
            return answer

    def _refusal(self, environ: dict[str, Any], body: bytes) -> str | None:
        header = _environ_header(environ)
        query = environ.get("QUERY_STRING")
        url = environ.get("PATH_INFO", "/") + (f"?{query}" if query else "")
        credentials = _signer(header, self._credentials, self._access)
        method = environ["REQUEST_METHOD"]
        return refusal("the embedded DynamoDB", method, url, header, body, credentials, self._address)

    def _denial(self, environ: dict[str, Any], body: bytes) -> str | None:
        if self._access is None:
            return None
        header = _environ_header(environ)
        key = _signer(header, self._credentials, self._access).access_key_id
        return self._access.denial(key, _requests(header, body, self._partition_key))


def _environ_header(environ: dict[str, Any]) -> Callable[[str], str | None]:
    def header(name: str) -> str | None:  # in a WSGI environ, Content-Type and -Length have no HTTP_ prefix
        key = name.upper().replace("-", "_")
        value = environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")
        return None if value is None else str(value)

    return header


def _partition_key() -> str:
    """The users table's partition key attribute, as template.yaml declares it."""
    schema = template.table_definition()["KeySchema"]
    return str(next(key["AttributeName"] for key in schema if key["KeyType"] == "HASH"))


def refusal(
    service: str,
    method: str,
    url: str,
    header: Callable[[str], str | None],
    body: bytes,
    credentials: LocalCredentials,
    own_address: str | None = None,
) -> str | None:
    """Why a local stand-in of an AWS service refuses a request, or None: it answers only requests
    signed with `credentials` (SigV4) within five minutes of their X-Amz-Date, sent to a loopback Host
    (or the address it listens on, which sam local's containers name), without an Origin (a web page's)."""
    if header("Origin") is not None:
        return f"{service} answers no web page (the request has an Origin)"
    host = urlsplit(f"//{header('Host') or ''}").hostname or ""
    if not (is_loopback(host) or (own_address is not None and _ip(host) == _ip(own_address))):
        return f"{service} answers only to a loopback Host or its own address"
    match = _AUTHORIZATION.fullmatch(header("Authorization") or "")
    if match is None or not hmac.compare_digest(match["key"], credentials.access_key_id):
        return "the request is not signed with this run's access key"
    headers = {name: header(name) or "" for name in match["headers"].split(";")}
    amz_date = headers.get("x-amz-date", "")
    # The wall clock as the signers read it (botocore, the layer's client), not through time.time.
    stale = _stale(amz_date, datetime.now(UTC))
    if stale is not None:
        return stale
    request, _ = canonical_request(method, url, headers, hashlib.sha256(body).hexdigest())
    expected = signature(credentials.secret_access_key, amz_date, match["scope"], request)
    return None if hmac.compare_digest(expected, match["signature"]) else "the request's signature does not match"


def _stale(amz_date: str, now: datetime) -> str | None:
    """Why a request signed at `amz_date` (its signed X-Amz-Date) is refused at `now`, or None: as AWS, a
    signature holds for SIGNATURE_WINDOW_SECONDS either side of its date, so a request seen once (in a log, a
    proxy) cannot be sent again later."""
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return "the request has no signed X-Amz-Date"
    window = timedelta(seconds=SIGNATURE_WINDOW_SECONDS)
    shown, minutes = now.strftime(AMZ_DATE_FORMAT), SIGNATURE_WINDOW_SECONDS // 60
    if signed_at < now - window:
        earliest = (now - window).strftime(AMZ_DATE_FORMAT)
        return f"Signature expired: {amz_date} is now earlier than {earliest} ({shown} - {minutes} min.)"
    if signed_at > now + window:
        latest = (now + window).strftime(AMZ_DATE_FORMAT)
        return f"Signature not yet current: {amz_date} is still later than {latest} ({shown} + {minutes} min.)"
    return None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address (with or without IPv6's brackets), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class EmbeddedDynamoDB:
    endpoint_url: str
    credentials: LocalCredentials


@contextmanager
def embedded_dynamodb(
    host: str = "127.0.0.1", after_request: Callable[[], None] | None = None, access: Access | None = None
) -> Iterator[EmbeddedDynamoDB]:
    """Run moto's server (DynamoDB and Secrets Manager among its services) on a free port of `host`,
    an IP address, with fresh credentials (and the keys of `access`'s roles, each held to its role).

    Data lives in memory. `after_request`, if given, is called after each request moto answered,
    while no other request runs: it sees moto's state as that request left it.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    # moto serves through werkzeug, whose request log would fill the console with its calls.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    credentials = LocalCredentials.fresh()
    app = _GuardedMoto(DomainDispatcherApplication(create_backend_app), credentials, host, after_request, access)
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="embedded-dynamodb", daemon=True)
    thread.start()
    try:
        bound_host, port = str(server.server_address[0]), int(server.server_address[1])
        yield EmbeddedDynamoDB(f"http://{bound_host}:{port}", credentials)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def ensure_table(table_name: str, endpoint_url: str | None = None) -> bool:
    """Create the users table as template.yaml defines it, unless it exists. True if it was created."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint_url)
    definition = template.table_definition()
    ttl = definition.pop("TimeToLiveSpecification", None)
    try:
        client.create_table(TableName=table_name, **definition)
    except client.exceptions.ResourceInUseException:
        return False
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    if ttl:
        client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
    return True


@dataclass(frozen=True)
class LocalTable:
    """The table a local run keeps its data in, and where."""

    endpoint_url: str
    table_name: str
    created: bool
    credentials: LocalCredentials | None  # the embedded DynamoDB's; None for an endpoint of the developer's

    def describe(self) -> str:
        """One line for the banner: where the data is and how long it lives."""
        if self.credentials is not None:
            return (
                f"in memory: embedded DynamoDB (moto) at {self.endpoint_url}, table {self.table_name!r};"
                f" gone when the server stops ({ENDPOINT_VARIABLE} to use DynamoDB Local instead)"
            )
        state = "created now" if self.created else "existing"
        return f"DynamoDB at {self.endpoint_url} ({ENDPOINT_VARIABLE}), table {self.table_name!r} ({state})"


def _check_reachable(endpoint_url: str) -> None:
    parts = urlsplit(endpoint_url)
    if not parts.hostname:
        raise CliError(f"{ENDPOINT_VARIABLE}={endpoint_url!r} is not a URL", exit_code=2)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=3):
            pass
    except OSError as error:
        raise CliError(f"cannot reach DynamoDB at {endpoint_url} ({ENDPOINT_VARIABLE}): {error}") from None


@contextmanager
def local_table(access: Access | None = None) -> Iterator[LocalTable]:
    """The endpoint in AWS_ENDPOINT_URL_DYNAMODB if set, else an embedded DynamoDB (holding the keys of `access`'s
    roles to their roles); the table made ready."""
    from botocore.exceptions import BotoCoreError, ClientError

    external = os.environ.get(ENDPOINT_VARIABLE, "").strip()
    if external:
        _check_reachable(external)
    with nullcontext(None) if external else embedded_dynamodb(access=access) as embedded:
        endpoint_url, credentials = (embedded.endpoint_url, embedded.credentials) if embedded else (external, None)
        name = template.LOCAL_TABLE_NAME
        use_endpoint(endpoint_url, name, credentials)
        try:
            created = ensure_table(name, endpoint_url)
        except (BotoCoreError, ClientError) as error:
            raise CliError(f"cannot create the table {name!r} at {endpoint_url}: {error}") from None
        yield LocalTable(endpoint_url, name, created, credentials)


def outbox_path(key_file: Path) -> Path:
    """The local outbox, beside the key file: one JSON line per message the functions mailed."""
    return key_file.expanduser().absolute().parent / OUTBOX_NAME


def empty_outbox(key_file: Path) -> None:
    """Empty the local outbox (creating it), readable by its owner only: its messages hold reset codes."""
    path = outbox_path(key_file)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    path.chmod(0o600)


def function_environments(
    app: template.Application, key_file: Path, verbose: bool, lambda_endpoint: str | None = None
) -> dict[str, dict[str, str]]:
    """The variables each function gets locally, by logical id: its own, as the template sets them (an empty one is
    unset to the functions, as the AWS endpoints are: the process's own value stays), with local values for the
    table, the keys, mail (the outbox), Lambda's Invoke API (this run's, or an address that answers nothing),
    sessions (checked on every request) and Powertools. (Its role's credentials are added where it starts.)"""
    local = {
        "AUTH_TABLE_NAME": template.LOCAL_TABLE_NAME,
        "AUTH_JWKS_FILE": str(key_file),
        "AUTH_MAIL_OUTBOX": str(outbox_path(key_file)),
        "AUTH_SESSION_CHECK_SECONDS": "0",
        "AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint or NO_ENDPOINT,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "AWS_REGION": app.region,
    }
    if not verbose:
        local["POWERTOOLS_LOG_LEVEL"] = QUIET_LOG_LEVEL
    return {
        name: {key: value for key, value in function.environment.items() if value and key != "AUTH_JWKS_SECRET_ARN"}
        | local
        for name, function in app.functions.items()
    }


def shared(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The variables every one of `environments` sets to one value: what the server sets for its own use of the
    layer (Run & Debug's tokens last as long as the functions' do)."""
    first, *others = list(environments.values()) or [{}]
    return {key: value for key, value in first.items() if all(other.get(key) == value for other in others)}


class LambdaInvokeApi:
    """Lambda's Invoke API for the template's functions, as one function calls another in AWS (the reset request
    hands its email to the mailer): `POST /2015-03-31/functions/<name or ARN>/invocations`, an `Event` invocation
    in a thread of its own (202 at once), else in the request. Guarded as the embedded DynamoDB is: signed with
    this process's key (full access), or a role's key of `access`, whose role must grant lambda:InvokeFunction on
    the function."""

    PREFIX = "/2015-03-31/functions/"
    SUFFIX = "/invocations"

    def __init__(self, functions: Mapping[str, Any], access: Access | None = None, region: str = DEFAULT_REGION):
        self.functions = functions  # by logical id: objects with invoke(event, request_id)
        self.access = access
        self.region = region
        self._running: list[threading.Thread] = []

    @classmethod
    def handles(cls, path: str) -> bool:
        return path.startswith(cls.PREFIX) and path.endswith(cls.SUFFIX)

    @staticmethod
    def signed_url(path: str, query: str) -> str:
        """The URL a caller signed for an Invoke request sent to `path`: SigV4 signs Lambda's path encoded once
        more than sent (a function's ARN is sent with %3A for each colon)."""
        return quote(path, safe="/-_.~") + (f"?{query}" if query else "")

    def handle(self, request: Any) -> Any:
        from .gateway import Response

        def answer(status: int, body: object) -> Response:
            return Response(status, [("Content-Type", "application/json")], json.dumps(body).encode())

        configured = settings.aws()
        if not configured.access_key_id or not configured.secret_access_key:
            return answer(403, {"Type": "User", "message": "no credentials to check the request's signature"})
        own = LocalCredentials(configured.access_key_id, configured.secret_access_key)
        credentials = _signer(request.header, own, self.access)
        url = self.signed_url(request.path, request.query)
        reason = refusal("the local Lambda", request.method, url, request.header, request.body, credentials)
        if reason is not None:
            return answer(403, {"Type": "User", "message": reason})
        named = unquote(request.path[len(self.PREFIX) : -len(self.SUFFIX)])
        # A function's name or ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME), either maybe with :QUALIFIER.
        parts = named.split(":")
        name = (parts[6] if len(parts) > 6 else "") if named.startswith("arn:") else parts[0]
        if self.access is not None:
            arn = f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{named}"
            arn = named if named.startswith("arn:") else arn
            denial = self.access.denial(credentials.access_key_id, [iam.Request("lambda:InvokeFunction", arn)])
            if denial is not None:  # as Lambda answers a caller its policies do not allow
                response = answer(403, {"Type": "User", "Message": denial})
                response.headers.append(("x-amzn-ErrorType", "AccessDeniedException"))
                return response
        function = self.functions.get(name)
        if function is None:
            return answer(404, {"Type": "User", "message": f"Function not found: {name}"})
        try:
            event = json.loads(request.body or b"{}")
        except ValueError:
            return answer(400, {"Type": "User", "message": "the payload is not JSON"})
        if (request.header("X-Amz-Invocation-Type") or "RequestResponse") == "Event":
            thread = threading.Thread(
                target=self._run, args=(name, function, event), name=f"invoke-{name}", daemon=True
            )
            thread.start()
            self._running = [running for running in self._running if running.is_alive()] + [thread]
            return Response(202, [], b"")
        try:
            return answer(200, function.invoke(event))
        except Exception as error:  # the function raised: Lambda answers 200 with the error object
            return answer(200, {"errorMessage": str(error), "errorType": type(error).__name__})

    def finish(self, timeout: float) -> None:
        """Wait (bounded) for the asynchronous invocations still running."""
        for thread in list(self._running):
            thread.join(timeout)

    @staticmethod
    def _run(name: str, function: Any, event: object) -> None:
        try:
            function.invoke(event)
        except Exception as error:
            logging.getLogger("lambda_auth_cli").warning("%s failed: %s: %s", name, type(error).__name__, error)


class InvokeApi(Protocol):
    """What answers Lambda's Invoke API on a `server.lambda_endpoint`."""

    def handles(self, path: str) -> bool: ...

    def handle(self, request: Any) -> Any: ...

    def finish(self, timeout: float) -> None: ...
