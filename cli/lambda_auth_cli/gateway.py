"""API Gateway (REST) between an HTTP request and the template's functions, as AWS runs it.

`Gateway.handle` takes a request and answers it the way a deployed stage would:
- the path is matched under the stage (`/{stage}/...`) to the template's resources and
  methods, literal segments before `{param}`; anything else is the
  MISSING_AUTHENTICATION_TOKEN gateway response;
- a method behind a Lambda authorizer calls it first with the REQUEST event, evaluates
  the returned policy against the method ARN, and passes the principal and the context (values as text) on in
  `requestContext.authorizer`; an `Unauthorized` error is UNAUTHORIZED, a Deny or an
  uncovered method is ACCESS_DENIED, anything else that goes wrong in the authorizer is
  a 500;
- a Lambda proxy method gets the version 1.0 proxy event, and its answer is checked as
  API Gateway checks it: a malformed one, or a function error, is a 502;
- mock methods (SAM's CORS preflight) answer their fixed status, headers and body;
- every answer API Gateway makes itself is shaped by the template's gateway responses.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from . import policies, template
from .lambda_runtime import FunctionError

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit

# Gateway response types API Gateway answers with here: their default status and message.
MISSING_AUTHENTICATION_TOKEN = "MISSING_AUTHENTICATION_TOKEN"  # noqa: S105 - a response type, not a secret
UNAUTHORIZED = "UNAUTHORIZED"
ACCESS_DENIED = "ACCESS_DENIED"
AUTHORIZER_FAILURE = "AUTHORIZER_FAILURE"
AUTHORIZER_CONFIGURATION_ERROR = "AUTHORIZER_CONFIGURATION_ERROR"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
BAD_REQUEST_BODY = "BAD_REQUEST_BODY"  # for the server: a request too malformed to route
BAD_GATEWAY = "DEFAULT_5XX"  # a function error or a malformed proxy answer: 502, no type of its own

_DEFAULTS: dict[str, tuple[int, str | None, str | None]] = {
    MISSING_AUTHENTICATION_TOKEN: (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    UNAUTHORIZED: (401, "Unauthorized", "UnauthorizedException"),
    ACCESS_DENIED: (403, "User is not authorized to access this resource", "AccessDeniedException"),
    AUTHORIZER_FAILURE: (500, None, "AuthorizerFailureException"),
    AUTHORIZER_CONFIGURATION_ERROR: (500, None, "AuthorizerConfigurationException"),
    REQUEST_TOO_LARGE: (413, "Request Too Long", "RequestTooLongException"),
    BAD_REQUEST_BODY: (400, "Malformed HTTP request", "BadRequestException"),
    BAD_GATEWAY: (502, "Internal server error", None),
}
_DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive"}
# What requestContext.identity holds, all null, for a caller API Gateway did not authenticate with IAM or Cognito.
_UNAUTHENTICATED_IDENTITY = (
    "cognitoIdentityPoolId accountId cognitoIdentityId caller principalOrgId accessKey"
    " cognitoAuthenticationType cognitoAuthenticationProvider userArn user"
)


class Invokable(Protocol):
    """What the gateway needs of a function: invoke it with an event (FunctionError if it raised)."""

    def invoke(self, event: Any, request_id: str | None = None) -> Any: ...


@dataclass(frozen=True)
class Request:
    """An HTTP request as the server received it."""

    method: str
    path: str  # as sent, percent-encoded, without the query string
    query: str  # the raw query string, without "?"
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    server_port: int
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """The last value of header `name` (any case), or None."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


@dataclass
class Response:
    """What the server sends back."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


@dataclass(frozen=True)
class _Route:
    method: template.Method
    resource_path: str
    path_parameters: dict[str, str] | None


def _segments(path: str) -> list[str]:
    # Empty segments count: /auth/me/ is not /auth/me, as in API Gateway REST.
    return [] if path == "/" else path[1:].split("/")


def _match(resource_path: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """How specifically `resource_path` matches `path` (lower is more specific), and its parameters."""
    declared, actual = _segments(resource_path), _segments(path)
    if len(actual) != len(declared):
        return None
    rank: list[int] = []
    parameters: dict[str, str] = {}
    for index, segment in enumerate(declared):
        variable = re.fullmatch(r"\{(\w+)\}", segment)
        if variable and actual[index]:
            parameters[variable.group(1)] = actual[index]
            rank.append(1)
        elif segment == actual[index]:
            rank.append(0)
        else:
            return None
    return tuple(rank), parameters


def _json_copy(value: Any) -> Any:
    """A value as it arrives on the other side of Lambda's JSON boundary; ValueError if it cannot cross it."""
    return json.loads(json.dumps(value, allow_nan=False))


def _context_value(value: Any) -> str:
    """API Gateway REST passes an authorizer's context values on as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    raise policies.PolicyError("context values must be strings, numbers or booleans")


class Gateway:
    """One REST API stage in front of in-process functions."""

    def __init__(
        self,
        api: template.Api,
        functions: Mapping[str, Invokable],
        region: str = template.DEFAULT_REGION,
        account_id: str = template.LOCAL_ACCOUNT_ID,
        api_id: str = template.LOCAL_API_ID,
    ):
        self.api = api
        self.functions = functions
        self.region = region
        self.account_id = account_id
        self.api_id = api_id
        self._resources: dict[str, dict[str, template.Method]] = {}
        for method in api.methods:
            self._resources.setdefault(method.resource_path, {})[method.http_method] = method

    @property
    def base_path(self) -> str:
        """Every route's prefix: the stage, as in the deployed URL."""
        return f"/{self.api.stage}"

    # Routing

    def route(self, method: str, path: str) -> _Route | None:
        """The method of the most specific resource matching `path` (stage removed), if any."""
        matches = [(m[0], resource, m[1]) for resource in self._resources if (m := _match(resource, path)) is not None]
        if not matches:
            return None
        _, resource_path, parameters = min(matches)
        chosen = self._resources[resource_path].get(method)
        return _Route(chosen, resource_path, parameters or None) if chosen is not None else None

    def handle(self, request: Request) -> Response:
        """Answer `request` as the deployed stage would."""
        request_id = str(uuid.uuid4())
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self.gateway_response(REQUEST_TOO_LARGE, request_id)
        decoded = unquote(request.path)
        prefix = self.base_path
        if decoded != prefix and not decoded.startswith(prefix + "/"):
            return self.gateway_response(MISSING_AUTHENTICATION_TOKEN, request_id)
        path = decoded[len(prefix) :] or "/"
        route = self.route(request.method.upper(), path)
        if route is None:
            return self.gateway_response(MISSING_AUTHENTICATION_TOKEN, request_id)
        if route.method.mock is not None:
            return self._mock(route.method.mock, request_id)
        event = self._proxy_event(request, route, path, request_id)
        if route.method.authorizer is not None:
            refusal = self._authorize(request, route, path, event, request_id)
            if refusal is not None:
                return refusal
        function = route.method.function or ""
        try:
            result = _json_copy(self.functions[function].invoke(_json_copy(event), request_id))
        except FunctionError as error:
            log.warning("%s failed: %s: %s", function, error.error_type, error.error_message)
            return self.gateway_response(BAD_GATEWAY, request_id)
        except ValueError:
            log.warning("%s returned a value that is not JSON", function)
            return self.gateway_response(BAD_GATEWAY, request_id)
        response = self._proxy_response(result, request_id)
        if response is None:
            log.warning("%s returned a malformed Lambda proxy response", function)
            return self.gateway_response(BAD_GATEWAY, request_id)
        return response

    # Events

    def _request_context(self, request: Request, route: _Route, path: str, request_id: str) -> dict[str, Any]:
        now = time.time()
        domain = request.header("Host") or f"127.0.0.1:{request.server_port}"
        return {
            "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.resource_path).hex[:6],
            "resourcePath": route.resource_path,
            "httpMethod": request.method.upper(),
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode(),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"{self.base_path}{path}",
            "accountId": self.account_id,
            "protocol": request.protocol,
            "stage": self.api.stage,
            "domainPrefix": domain.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                **dict.fromkeys(_UNAUTHENTICATED_IDENTITY.split()),
                "sourceIp": request.source_ip,
                "userAgent": request.header("User-Agent"),
            },
            "domainName": domain,
            "apiId": self.api_id,
        }

    def _headers(self, request: Request) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
        pairs = list(request.headers)
        forwarded = request.header("X-Forwarded-For")
        extra = {
            "X-Forwarded-For": f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip,
            "X-Forwarded-Port": str(request.server_port),
            "X-Forwarded-Proto": "http",
        }
        pairs = [(key, value) for key, value in pairs if key.lower() not in {name.lower() for name in extra}]
        pairs.extend(extra.items())
        return _single_and_multi(pairs)

    def _proxy_event(self, request: Request, route: _Route, path: str, request_id: str) -> dict[str, Any]:
        headers, multi_headers = self._headers(request)
        query, multi_query = _single_and_multi(parse_qsl(request.query, keep_blank_values=True))
        # Without binary media types, API Gateway passes every body on as text.
        body = request.body.decode("utf-8", errors="replace") if request.body else None
        return {
            "resource": route.resource_path,
            "path": path,
            "httpMethod": request.method.upper(),
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": route.path_parameters,
            "stageVariables": None,
            "requestContext": self._request_context(request, route, path, request_id),
            "body": body,
            "isBase64Encoded": False,
        }

    # The authorizer

    def method_arn(self, method: str, path: str) -> str:
        """The ARN of this request's method, as authorizers receive it and their policies name it."""
        return policies.method_arn(self.region, self.account_id, self.api_id, self.api.stage, method, path)

    def _authorize(
        self, request: Request, route: _Route, path: str, event: dict[str, Any], request_id: str
    ) -> Response | None:
        """Run the method's authorizer; None when the request may go on (and `event` now holds its context)."""
        authorizer = self.api.authorizers[route.method.authorizer or ""]
        arn = self.method_arn(request.method.upper(), path)
        started = time.monotonic()
        authorizer_event = {"type": "REQUEST", "methodArn": arn, **event}
        for key in ("body", "isBase64Encoded"):
            authorizer_event.pop(key, None)
        try:
            answer = self.functions[authorizer.function].invoke(_json_copy(authorizer_event), request_id)
        except FunctionError as error:
            if error.error_message == "Unauthorized":
                return self.gateway_response(UNAUTHORIZED, request_id)
            log.warning("%s failed: %s: %s", authorizer.function, error.error_type, error.error_message)
            return self.gateway_response(AUTHORIZER_FAILURE, request_id)
        try:
            if not isinstance(answer, dict) or not isinstance(answer.get("principalId"), str | int):
                raise policies.PolicyError("the answer has no principalId")
            decision = policies.evaluate(answer.get("policyDocument"), arn)
            context = answer.get("context") or {}
            if not isinstance(context, dict):
                raise policies.PolicyError("context is not an object")
            forwarded = {str(key): _context_value(value) for key, value in context.items()}
        except policies.PolicyError as error:
            log.warning("%s answered a policy API Gateway refuses: %s", authorizer.function, error)
            return self.gateway_response(AUTHORIZER_CONFIGURATION_ERROR, request_id)
        if decision is policies.Decision.DENY:
            return self.gateway_response(
                ACCESS_DENIED, request_id, "User is not authorized to access this resource with an explicit deny"
            )
        if decision is policies.Decision.NOT_ALLOWED:
            return self.gateway_response(ACCESS_DENIED, request_id)
        event["requestContext"]["authorizer"] = {
            "principalId": str(answer["principalId"]),
            **forwarded,
            "integrationLatency": int((time.monotonic() - started) * 1000),
        }
        return None

    # Answers

    def _mock(self, mock: template.MockIntegration, request_id: str) -> Response:
        headers = [("Content-Type", mock.content_type), *mock.headers.items(), ("x-amzn-RequestId", request_id)]
        return Response(mock.status, headers, mock.body.encode())

    def _proxy_response(self, result: Any, request_id: str) -> Response | None:
        """The HTTP answer for a Lambda proxy result; None when API Gateway would call it malformed."""
        if not isinstance(result, dict) or not set(result) <= _PROXY_RESPONSE_KEYS:
            return None
        status = result.get("statusCode")
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            return None
        body, encoded = result.get("body"), result.get("isBase64Encoded", False)
        headers, multi = result.get("headers") or {}, result.get("multiValueHeaders") or {}
        if not isinstance(body, str | None) or not isinstance(encoded, bool):
            return None
        if not isinstance(headers, dict) or not isinstance(multi, dict):
            return None
        merged: dict[str, list[str]] = {}
        for name, values in multi.items():
            if not isinstance(values, list) or any(isinstance(value, dict | list) for value in values):
                return None
            merged[str(name)] = [str(value) for value in values if value is not None]
        for name, value in headers.items():
            if isinstance(value, dict | list):
                return None
            if value is not None and str(value) not in merged.get(str(name), []):
                merged.setdefault(str(name), []).append(str(value))
        payload = (body or "").encode()  # without binary media types, a base64 body goes out as its text
        pairs = [(name, value) for name, values in merged.items() for value in values]
        pairs = [(name, value) for name, value in pairs if name.lower() not in _HOP_BY_HOP]
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("Content-Type", "application/json"))
        pairs.append(("x-amzn-RequestId", request_id))
        return Response(status, pairs, payload)

    def gateway_response(self, kind: str, request_id: str, message: str | None = None) -> Response:
        """API Gateway's own answer of type `kind`, shaped by the template's gateway responses."""
        default_status, default_message, error_type = _DEFAULTS[kind]
        message = message if message is not None else default_message
        family = "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX"
        spec = self.api.gateway_responses.get(kind) or self.api.gateway_responses.get(family)
        status = spec.status if spec is not None and spec.status is not None else default_status
        templates = spec.templates if spec is not None and spec.templates else {"application/json": _DEFAULT_TEMPLATE}
        content_type = "application/json" if "application/json" in templates else next(iter(templates))
        body = (
            templates[content_type]
            .replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message or "")
            .replace("$context.error.responseType", kind)
            .replace("$context.requestId", request_id)
        )
        headers = [("Content-Type", content_type), *(spec.headers.items() if spec is not None else ())]
        headers.append(("x-amzn-RequestId", request_id))
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        return Response(status, headers, body.encode())


def _single_and_multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's two views of repeated names: the last value of each, and all of them (None when there are none)."""
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi
