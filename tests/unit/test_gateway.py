"""The API Gateway emulation behind `lambda-auth serve`, called in-process, with stand-in functions.

The routes, authorizer and gateway responses are the template's; the functions are
stubs, so each test can make a function or the authorizer answer what the real ones
never do (a Deny, a crash, a malformed proxy response) and see what API Gateway would.
What only HTTP shows (framing, keep-alive, repeated headers) is in tests/e2e/test_server.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lambda_auth_cli import lambda_runtime, policies, template
from lambda_auth_cli.gateway import Gateway, Request
from lambda_auth_cli.lambda_runtime import FunctionError

ME_ARN = "arn:aws:execute-api:us-east-1:123456789012:local/api/GET/auth/me"
FATAL = {"code": "ERROR_FATAL", "message": "Something went wrong. Please try again."}


class Stub:
    """A function that records its events and answers `answer` (a value, a callable, or an exception)."""

    def __init__(self, answer: Any = None):
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise FunctionError(str(self.answer), type(self.answer).__name__, ())
        return self.answer(event) if callable(self.answer) else self.answer


def ok(body: Any = None) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body or {})}


def allow(resource: str = ME_ARN, effect: str = "Allow", **context: Any) -> dict[str, Any]:
    return {
        "principalId": "7",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased; a repeated header's values joined as HTTP would
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture(scope="module")
def app() -> template.Application:
    return template.application()


@pytest.fixture
def serve(app: template.Application) -> Callable[..., Callable[..., Reply]]:
    """The template's gateway in front of stub functions: a function that sends it one request."""

    def start(**stubs: Stub) -> Callable[..., Reply]:
        gateway = Gateway(app.api, {name: stubs.get(name, Stub(ok())) for name in app.functions})

        def call(url: str, method: str = "GET", body: Any = None, **options: Any) -> Reply:
            """`url` with `body` as JSON, or `raw_body` as given, and `headers`."""
            parts = urlsplit(url)
            payload = options.get("raw_body", b"" if body is None else json.dumps(body).encode())
            headers = list(options.get("headers", {}).items())
            request = Request(method, parts.path, parts.query, headers, payload, "127.0.0.1", 3000)
            response = gateway.handle(request)
            merged: dict[str, str] = {}
            for name, value in response.headers:
                merged[name.lower()] = f"{merged[name.lower()]}, {value}" if name.lower() in merged else value
            return Reply(response.status, merged, response.body)

        return call

    return start


BASE = "http://127.0.0.1:3000/api"


def assert_gateway_error(reply: Reply, status: int, body: dict[str, str]) -> None:
    assert reply.status == status, reply.body
    assert reply.json() == body
    assert reply.headers["access-control-allow-origin"] == "*"  # the template's gateway responses carry it


# The proxy event


def test_the_proxy_event_carries_the_request_as_api_gateway_rest_sends_it(serve: Callable[..., str]) -> None:
    me = Stub(ok())
    call = serve(MeFunction=me, AuthorizerFunction=Stub(allow(userId=7, admin=True, ratio=0.5, extras="{}")))
    reply = call(
        f"{BASE}/auth/me?a=1&a=2&empty=&text=x%20y",
        headers={"X-Multi": "one", "Authorization": "Bearer t", "User-Agent": "e2e"},
    )
    assert reply.status == 200
    (event,) = me.events
    assert event["resource"] == "/auth/me" and event["path"] == "/auth/me" and event["httpMethod"] == "GET"
    assert event["headers"]["X-Multi"] == "one" and event["multiValueHeaders"]["X-Multi"] == ["one"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["queryStringParameters"] == {"a": "2", "empty": "", "text": "x y"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "empty": [""], "text": ["x y"]}
    assert event["pathParameters"] is None and event["stageVariables"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "api" and context["resourcePath"] == "/auth/me" and context["httpMethod"] == "GET"
    assert context["path"] == "/api/auth/me" and context["requestId"]
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "e2e"
    authorizer = dict(context["authorizer"])
    assert isinstance(authorizer.pop("integrationLatency"), int)
    # The principal and every context value reach the backend as text.
    assert authorizer == {"principalId": "7", "userId": "7", "admin": "true", "ratio": "0.5", "extras": "{}"}
    assert reply.headers["x-amzn-requestid"] == context["requestId"]


def test_a_request_body_reaches_the_function_as_text(serve: Callable[..., str]) -> None:
    signup = Stub(ok())
    call = serve(SignupFunction=signup)
    call(f"{BASE}/auth/signup", "POST", raw_body='{"name": "Zoë 🦊"}'.encode())
    (event,) = signup.events
    assert event["body"] == '{"name": "Zoë 🦊"}' and event["isBase64Encoded"] is False


def test_the_authorizer_gets_the_request_event_with_the_method_arn(serve: Callable[..., str]) -> None:
    authorizer = Stub(allow())
    call = serve(AuthorizerFunction=authorizer)
    call(f"{BASE}/auth/me?authtoken=abc", headers={"Authorization": "Bearer t"})
    (event,) = authorizer.events
    assert event["type"] == "REQUEST" and event["methodArn"] == ME_ARN
    assert event["headers"]["Authorization"] == "Bearer t"
    assert event["queryStringParameters"] == {"authtoken": "abc"}
    assert event["requestContext"]["resourcePath"] == "/auth/me"
    assert "body" not in event


# The authorizer's policy


@pytest.mark.parametrize(
    "resource",
    [
        ME_ARN,
        "arn:aws:execute-api:us-east-1:123456789012:local/api/*/auth/me",
        "arn:aws:execute-api:*:*:*/api/GET/*",
        "arn:aws:execute-api:us-east-1:123456789012:local/api/GE?/auth/me",
        "*",
    ],
)
def test_an_allow_that_covers_the_method_lets_the_request_through(serve: Callable[..., str], resource: str) -> None:
    call = serve(AuthorizerFunction=Stub(allow(resource)))
    assert call(f"{BASE}/auth/me").status == 200


@pytest.mark.parametrize(
    "policy",
    [
        allow(effect="Deny"),
        allow("arn:aws:execute-api:us-east-1:123456789012:local/api/POST/auth/me"),
        allow("arn:aws:execute-api:us-east-1:123456789012:local/other/GET/auth/me"),
        {
            "principalId": "7",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"},
                    {"Action": "execute-api:*", "Effect": "Deny", "Resource": ME_ARN},
                ],
            },
        },
    ],
    ids=["deny", "another-method", "another-stage", "deny-wins-over-allow"],
)
def test_a_deny_or_a_policy_that_does_not_cover_the_method_is_the_templates_access_denied_401(
    serve: Callable[..., str], policy: Any
) -> None:
    me = Stub(ok())
    call = serve(AuthorizerFunction=Stub(policy), MeFunction=me)
    reply = call(f"{BASE}/auth/me")
    assert_gateway_error(reply, 401, {"code": "ERROR_CODE_UNAUTHORIZED", "message": "Invalid token."})
    assert reply.headers["x-amzn-errortype"] == "AccessDeniedException"  # API Gateway's ACCESS_DENIED, reshaped
    assert me.events == []


def test_an_unauthorized_error_from_the_authorizer_is_the_401_gateway_response(serve: Callable[..., str]) -> None:
    call = serve(AuthorizerFunction=Stub(Exception("Unauthorized")))
    reply = call(f"{BASE}/auth/me")
    assert_gateway_error(reply, 401, {"code": "ERROR_CODE_UNAUTHORIZED", "message": "Invalid token."})


@pytest.mark.parametrize(
    "answer",
    [
        RuntimeError("the key store is down"),
        Exception("unauthorized"),  # only the exact message means 401
        {"policyDocument": allow()["policyDocument"]},  # no principalId
        allow(nested={"not": "flat"}),
        {"principalId": "7", "policyDocument": {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}},
        "not a policy",
    ],
    ids=["crash", "other-message", "no-principal", "nested-context", "bad-effect", "not-an-object"],
)
def test_any_other_authorizer_failure_is_a_500_in_the_templates_shape(serve: Callable[..., str], answer: Any) -> None:
    assert_gateway_error(serve(AuthorizerFunction=Stub(answer))(f"{BASE}/auth/me"), 500, FATAL)


# The function's answer


@pytest.mark.parametrize(
    "answer",
    [
        {"statusCode": 200, "body": {"not": "a string"}},
        {"body": "no status"},
        {"statusCode": 200, "body": "{}", "unexpected": True},
        {"statusCode": 42, "body": "{}"},
        {"statusCode": 200, "headers": ["Content-Type"], "body": "{}"},
        "just text",
        None,
        RuntimeError("the handler crashed"),
        {"statusCode": 200, "body": "{}", "headers": {"X-Set": {1, 2}}},  # Lambda cannot send it: a MarshalError
        {"statusCode": 200, "body": float("nan")},
    ],
    ids=[
        "body-object",
        "no-status",
        "extra-key",
        "bad-status",
        "headers-list",
        "text",
        "null",
        "function-error",
        "not-json",
        "nan",
    ],
)
def test_a_malformed_proxy_response_or_a_function_error_is_a_502(serve: Callable[..., str], answer: Any) -> None:
    assert_gateway_error(serve(SignupFunction=Stub(answer))(f"{BASE}/auth/signup", "POST", {}), 502, FATAL)


def test_a_proxy_response_is_sent_as_the_function_shaped_it(serve: Callable[..., str]) -> None:
    answer = {"statusCode": 201, "headers": {"X-One": "1"}, "body": "plain"}
    reply = serve(SignupFunction=Stub(answer))(f"{BASE}/auth/signup", "POST", {})
    assert reply.status == 201 and reply.body == b"plain"
    assert reply.headers["x-one"] == "1"
    assert reply.headers["content-type"] == "application/json"  # API Gateway's default


def test_multi_value_response_headers_are_each_sent(app: template.Application) -> None:
    answer = {
        "statusCode": 200,
        "headers": {"X-Both": "single"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Both": ["multi"]},
        "body": "",
    }
    gateway = Gateway(app.api, {name: Stub(answer) for name in app.functions})
    request = Request("POST", "/api/auth/signup", "", [], b"{}", "127.0.0.1", 3000)
    headers = gateway.handle(request).headers
    assert [value for name, value in headers if name == "Set-Cookie"] == ["a=1", "b=2"]
    assert [value for name, value in headers if name == "X-Both"] == ["multi", "single"]  # both maps merged


# Routing


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/items/special", ("/items/special", None)),
        ("GET", "/items/42", ("/items/{id}", {"id": "42"})),
        ("POST", "/items/42", None),  # the resource is chosen first, then its method
        ("GET", "/items/42/", None),  # API Gateway does not ignore a trailing slash
        ("GET", "/items", None),
        ("GET", "/", None),
    ],
)
def test_routes_match_literal_segments_before_parameters(
    method: str, path: str, expected: tuple[str, dict[str, str] | None] | None
) -> None:
    api = template.Api(
        logical_id="Api",
        stage="v1",
        methods=(
            template.Method("/items/special", "GET", function="Special"),
            template.Method("/items/{id}", "GET", function="Item"),
        ),
        authorizers={},
        gateway_responses={},
    )
    route = Gateway(api, {}).route(method, path)
    if expected is None:
        assert route is None
    else:
        assert route is not None and (route.resource_path, route.path_parameters) == expected


# What lambda-auth serve does not run: refused by name, not half-emulated

FUNCTION = """
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.lambda_handler
      CodeUri: fn/
      Events:
        Get:
          Type: Api
          Properties: {{RestApiId: !Ref Api, Path: '{path}', Method: {method}{auth}}}
"""


def template_with(tmp_path: Path, api: str = "", path: str = "/items", method: str = "get", auth: str = "") -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "app.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    document = (
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::Api\n"
        f"    Properties:\n      StageName: v1\n{api}" + FUNCTION.format(path=path, method=method, auth=auth)
    )
    (tmp_path / "template.yaml").write_text(document)
    return tmp_path / "template.yaml"


AUTHORIZER = "      Auth:\n        Authorizers:\n          Check:\n            FunctionArn: !GetAtt Fn.Arn\n{extra}"
GUARDED = ", Auth: {Authorizer: Check}"


@pytest.mark.parametrize(
    ("api", "path", "method", "auth", "refusal"),
    [
        ("", "/{proxy+}", "get", "", "greedy path parameters are not supported by lambda-auth serve"),
        ("", "/items", "any", "", "ANY methods are not supported by lambda-auth serve"),
        ("      BinaryMediaTypes: ['image~1png']\n", "/items", "get", "", "binary media types are not supported"),
        (AUTHORIZER.format(extra=""), "/items", "get", GUARDED, "REQUEST Lambda authorizers only"),
        (
            AUTHORIZER.format(
                extra="            FunctionPayloadType: REQUEST\n"
                "            Identity: {Headers: [Authorization], ReauthorizeEvery: 0}\n"
            ),
            "/items",
            "get",
            GUARDED,
            "identity sources and caching are not supported by lambda-auth serve",
        ),
    ],
    ids=["proxy", "any", "binary", "token-authorizer", "identity-source"],
)
def test_a_feature_the_template_does_not_use_is_refused_by_name(
    tmp_path: Path, api: str, path: str, method: str, auth: str, refusal: str
) -> None:
    with pytest.raises(template.TemplateError, match=refusal):
        template.application(template_with(tmp_path, api, path, method, auth))


def test_a_plausible_addition_runs(tmp_path: Path) -> None:
    extra = "            FunctionPayloadType: REQUEST\n            Identity: {ReauthorizeEvery: 0}\n"
    app = template.application(template_with(tmp_path, AUTHORIZER.format(extra=extra), "/items/{id}", "get", GUARDED))
    (method,) = [method for method in app.api.methods if method.mock is None]
    assert (method.resource_path, method.function, method.authorizer) == ("/items/{id}", "Fn", "Check")
    assert app.api.authorizers["Check"].function == "Fn"


def test_a_gateway_response_the_template_does_not_configure_keeps_api_gateways_default_shape() -> None:
    api = template.Api(logical_id="Api", stage="v1", methods=(), authorizers={}, gateway_responses={})
    response = Gateway(api, {}).gateway_response("MISSING_AUTHENTICATION_TOKEN", "id")
    assert response.status == 403 and json.loads(response.body) == {"message": "Missing Authentication Token"}


def test_the_method_arn_names_region_account_api_stage_method_and_path() -> None:
    arn = policies.method_arn("eu-west-1", "111122223333", "abc123", "api", "GET", "/auth/me")
    assert arn == "arn:aws:execute-api:eu-west-1:111122223333:abc123/api/GET/auth/me"


# Functions kept apart


def test_two_functions_with_the_same_module_names_do_not_see_each_others(tmp_path: Path) -> None:
    folders = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "helpers.py").write_text(f"NAME = {name!r}\n")
        (folder / "app.py").write_text(
            "import helpers\n\ndef lambda_handler(event, context):\n    return helpers.NAME\n"
        )
        folders.append(folder)
    handlers = [lambda_runtime.load_handler(folder, "app.lambda_handler") for folder in folders]
    assert [handler({}, None) for handler in handlers] == ["first", "second"]
    assert "helpers" not in sys.modules and "app" not in sys.modules
