"""API Gateway (REST) between an HTTP request and the template's functions: `Gateway.handle` answers as a stage would.

- The path is matched under the stage (`/{stage}/...`) to the template's resources, literal segments
  before `{param}`; anything else is the MISSING_AUTHENTICATION_TOKEN gateway response.
- A method behind a Lambda authorizer calls it first with the REQUEST event, evaluates its policy against
  the method ARN, and passes the principal and context (values as text) on in `requestContext.authorizer`;
  an `Unauthorized` error is UNAUTHORIZED, a Deny or an uncovered method ACCESS_DENIED, any other failure a 500.
- A Lambda proxy method gets the version 1.0 event; a malformed answer, or a function error, is a 502.
- Mock methods (SAM's CORS preflight) answer their fixed status, headers and body; every answer API Gateway
  makes itself is shaped by the template's gateway responses.
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
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote

from . import policies, template
from .lambda_runtime import FunctionError, Invocable
from .template import DEFAULT_REGION, LOCAL_ACCOUNT_ID, LOCAL_API_ID

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
# Gateway response types API Gateway answers with here: their default status, message and error type.
_DEFAULTS: dict[str, tuple[int, str | None, str | None]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource", "AccessDeniedException"),
    "AUTHORIZER_FAILURE": (500, None, "AuthorizerFailureException"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, None, "AuthorizerConfigurationException"),
    REQUEST_TOO_LARGE: (413, "Request Too Long", "RequestTooLongException"),
    "DEFAULT_5XX": (502, "Internal server error", None),  # a function error or a malformed proxy answer
}
_DEFAULT_RESPONSE = template.FixedResponse(None, {}, {"application/json": '{"message":$context.error.messageString}'})
_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive"}
_FORWARDED = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"}  # set by API Gateway, not the client
# What requestContext.identity holds, all null, for a caller API Gateway did not authenticate with IAM or Cognito.
_UNAUTHENTICATED_IDENTITY = (
    "cognitoIdentityPoolId accountId cognitoIdentityId caller principalOrgId accessKey"
    " cognitoAuthenticationType cognitoAuthenticationProvider userArn user"
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent, percent-encoded, without the query string
    query: str  # the raw query string, without "?"
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    server_port: int
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class _Route(NamedTuple):
    method: template.Method
    resource_path: str
    path_parameters: dict[str, str] | None


def _match(resource_path: str, path: str) -> tuple[tuple[bool, ...], dict[str, str]] | None:
    """How specifically `resource_path` matches `path` (a parameter segment ranks after a literal one), and
    its parameters. Empty segments count: /auth/me/ is not /auth/me, as in API Gateway REST."""
    declared, actual = [[] if item == "/" else item[1:].split("/") for item in (resource_path, path)]
    if len(actual) != len(declared):
        return None
    rank, parameters = [], {}
    for segment, value in zip(declared, actual, strict=True):
        variable = re.fullmatch(r"\{(\w+)\}", segment)
        if variable and value:
            parameters[variable[1]] = value
        elif segment != value:
            return None
        rank.append(bool(variable and value))
    return tuple(rank), parameters


def _json_copy(value: Any) -> Any:
    """A value as it arrives on the other side of Lambda's JSON boundary; ValueError if it cannot cross it."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except TypeError as error:  # a set, bytes, an object: Lambda's Runtime.MarshalError
        raise ValueError(str(error)) from None


def _single_and_multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's two views of repeated names: the last value of each, and all of them (None when there are none)."""
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return ({key: values[-1] for key, values in multi.items()}, multi) if multi else (None, None)


class Gateway:
    def __init__(self, api: template.Api, functions: Mapping[str, Invocable], region: str = DEFAULT_REGION):
        self.api = api
        self.functions = functions
        self.region = region
        self.base_path = f"/{api.stage}"  # every route's prefix: the stage, as in the deployed URL
        self._resources: dict[str, dict[str, template.Method]] = {}
        for method in api.methods:
            self._resources.setdefault(method.resource_path, {})[method.http_method] = method

    def route(self, method: str, path: str) -> _Route | None:
        """The method of the most specific resource matching `path` (stage removed), if any."""
        matches = [(m[0], resource, m[1]) for resource in self._resources if (m := _match(resource, path)) is not None]
        _, resource_path, parameters = min(matches, default=((), "", {}))
        chosen = self._resources.get(resource_path, {}).get(method)
        return _Route(chosen, resource_path, parameters or None) if chosen is not None else None

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self.gateway_response(REQUEST_TOO_LARGE, request_id)
        decoded = unquote(request.path)
        path = decoded[len(self.base_path) :] or "/"
        route = self.route(request.method.upper(), path) if f"{decoded}/".startswith(f"{self.base_path}/") else None
        if route is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        if (mock := route.method.mock) is not None:
            content_type, body = next(iter(mock.templates.items()), ("application/json", ""))
            headers = [("Content-Type", content_type), *mock.headers.items(), ("x-amzn-RequestId", request_id)]
            return Response(mock.status or 200, headers, body.encode())
        event = self._event(request, route, path, request_id)
        if route.method.authorizer is not None:
            refusal = self._authorize(route.method.authorizer, event, request_id)
            if refusal is not None:
                return refusal
        function = route.method.function or ""
        try:
            response = _proxy_response(_json_copy(self.functions[function].invoke(_json_copy(event), request_id)))
            if response is not None:
                response.headers.append(("x-amzn-RequestId", request_id))
                return response
            log.warning("%s returned a malformed Lambda proxy response", function)
        except FunctionError as error:
            log.warning("%s failed: %s: %s", function, error.error_type, error.error_message)
        except ValueError:
            log.warning("%s returned a value that is not JSON", function)
        return self.gateway_response("DEFAULT_5XX", request_id)

    def _event(self, request: Request, route: _Route, path: str, request_id: str) -> dict[str, Any]:
        """The version 1.0 Lambda proxy event."""
        forwarded = request.header("X-Forwarded-For")
        pairs = [(key, value) for key, value in request.headers if key.lower() not in _FORWARDED]
        pairs.append(("X-Forwarded-For", f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip))
        pairs += [("X-Forwarded-Port", str(request.server_port)), ("X-Forwarded-Proto", "http")]
        headers, multi_headers = _single_and_multi(pairs)
        query, multi_query = _single_and_multi(parse_qsl(request.query, keep_blank_values=True))
        now = time.time()
        domain = request.header("Host") or f"127.0.0.1:{request.server_port}"
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
            "requestContext": {
                "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.resource_path).hex[:6],
                "resourcePath": route.resource_path,
                "httpMethod": request.method.upper(),
                "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode(),
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"{self.base_path}{path}",
                "accountId": LOCAL_ACCOUNT_ID,
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
                "apiId": LOCAL_API_ID,
            },
            # Without binary media types, API Gateway passes every body on as text.
            "body": request.body.decode("utf-8", errors="replace") if request.body else None,
            "isBase64Encoded": False,
        }

    def _authorize(self, name: str, event: dict[str, Any], request_id: str) -> Response | None:
        """Run the authorizer `name`; None when the request may go on (and `event` now holds its context)."""
        function = self.api.authorizers[name].function
        method, path = event["httpMethod"], event["path"]
        arn = policies.method_arn(self.region, LOCAL_ACCOUNT_ID, LOCAL_API_ID, self.api.stage, method, path)
        started = time.monotonic()
        kept = {key: value for key, value in event.items() if key not in ("body", "isBase64Encoded")}
        authorizer_event = _json_copy({"type": "REQUEST", "methodArn": arn, **kept})
        try:
            answer = self.functions[function].invoke(authorizer_event, request_id)
        except FunctionError as error:
            if error.error_message == "Unauthorized":
                return self.gateway_response("UNAUTHORIZED", request_id)
            log.warning("%s failed: %s: %s", function, error.error_type, error.error_message)
            return self.gateway_response("AUTHORIZER_FAILURE", request_id)
        try:
            if not isinstance(answer, dict) or not isinstance(answer.get("principalId"), str | int):
                raise policies.PolicyError("the answer has no principalId")
            effect = policies.evaluate(answer.get("policyDocument"), arn)
            context = answer.get("context") or {}
            if not isinstance(context, dict):
                raise policies.PolicyError("context is not an object")
            if not all(isinstance(value, str | int | float) for value in context.values()):
                raise policies.PolicyError("context values must be strings, numbers or booleans")
            # API Gateway REST passes the context on as text (a boolean as true or false).
            text = {str(key): value if isinstance(value, str) else json.dumps(value) for key, value in context.items()}
        except policies.PolicyError as error:
            log.warning("%s answered a policy API Gateway refuses: %s", function, error)
            return self.gateway_response("AUTHORIZER_CONFIGURATION_ERROR", request_id)
        if effect != "Allow":
            explicit = "User is not authorized to access this resource with an explicit deny"
            return self.gateway_response("ACCESS_DENIED", request_id, explicit if effect == "Deny" else None)
        latency = int((time.monotonic() - started) * 1000)
        principal = {"principalId": str(answer["principalId"])}
        event["requestContext"]["authorizer"] = {**principal, **text, "integrationLatency": latency}
        return None

    def gateway_response(self, kind: str, request_id: str, message: str | None = None) -> Response:
        """API Gateway's own answer of type `kind`, shaped by the template's gateway responses."""
        default_status, default_message, error_type = _DEFAULTS[kind]
        message = message if message is not None else default_message
        responses = self.api.gateway_responses  # the type's own, else its family's (DEFAULT_4XX or DEFAULT_5XX)
        spec = responses.get(kind) or responses.get(f"DEFAULT_{default_status // 100}XX") or _DEFAULT_RESPONSE
        templates = spec.templates or _DEFAULT_RESPONSE.templates
        content_type = "application/json" if "application/json" in templates else next(iter(templates))
        body = (
            templates[content_type]
            .replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message or "")
            .replace("$context.error.responseType", kind)
            .replace("$context.requestId", request_id)
        )
        headers = [("Content-Type", content_type), *spec.headers.items(), ("x-amzn-RequestId", request_id)]
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        status = spec.status if spec.status is not None else default_status
        return Response(status, headers, body.encode())


def _proxy_response(result: Any) -> Response | None:
    """The HTTP answer for a Lambda proxy result; None when API Gateway would call it malformed."""
    if not isinstance(result, dict) or not set(result) <= _PROXY_RESPONSE_KEYS:
        return None
    status = result.get("statusCode")
    status = int(status) if isinstance(status, str) and status.isascii() and status.isdigit() else status
    body, encoded = result.get("body"), result.get("isBase64Encoded", False)
    headers, multi = result.get("headers") or {}, result.get("multiValueHeaders") or {}
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
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
    pairs = [(name, value) for name, values in merged.items() for value in values if name.lower() not in _HOP_BY_HOP]
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.append(("Content-Type", "application/json"))
    return Response(status, pairs, (body or "").encode())  # no binary media types: a base64 body goes out as text
