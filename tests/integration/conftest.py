"""Integration tests: the handlers in-process against moto's DynamoDB, on their own and behind
the one API Gateway emulation (`lambda-auth serve`'s, called without HTTP)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest

from lambda_auth import settings
from lambda_auth.store import table
from lambda_auth_cli import lambda_runtime, local_aws, template
from lambda_auth_cli.gateway import Gateway, Request
from lambda_auth_cli.server import lambda_endpoint
from tests.conftest import NO_ENDPOINT, ROOT, LocalStack, random_ip

Handler = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="session", autouse=True)
def aws(stack: LocalStack) -> Iterator[LocalStack]:
    """Every integration test runs against the session's embedded DynamoDB, and Lambda's Invoke API
    on loopback (as `lambda-auth serve` answers it), where a reset request hands over to the mailer."""
    functions = lambda_runtime.LocalFunction.all_of(template.application())
    with lambda_endpoint(local_aws.LambdaInvokeApi(functions)) as endpoint:
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = endpoint
        settings.reset()
        try:
            yield stack
        finally:
            os.environ["AWS_ENDPOINT_URL_LAMBDA"] = NO_ENDPOINT
            settings.reset()


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a name of its own, as Lambda keeps functions apart."""
    return lambda_runtime.load_module(ROOT / "functions" / name)


@pytest.fixture(scope="session")
def handlers() -> dict[str, Handler]:
    """Each function's lambda_handler, called with an event and a fresh context."""

    def bind(name: str) -> Handler:
        handler = load_function(name).lambda_handler
        return lambda event: handler(event, lambda_runtime.LambdaContext(function_name=name))

    return {name: bind(name) for name in FUNCTIONS}


FUNCTIONS = (
    "signup",
    "login",
    "me",
    "authorizer",
    "logout",
    "password",
    "password_reset",
    "password_reset_mailer",
    "password_reset_confirm",
)


class Api:
    """The template's API as a client of the deployed stage sees it: requests through the gateway emulation."""

    def __init__(self, gateway: Gateway, handlers: dict[str, Handler]):
        self.gateway = gateway
        self.handlers = handlers  # for the tests that call one function with an event of their own

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, query: str = ""
    ) -> tuple[int, Any, dict[str, str]]:
        """One request from a client address of its own: status, decoded JSON body, headers."""
        response = self.gateway.handle(
            Request(
                method=method,
                path=f"{self.gateway.base_path}{path}",
                query=query,
                headers=list((headers or {}).items()),
                body=b"" if body is None else json.dumps(body).encode(),
                source_ip=random_ip(),
                server_port=443,
            )
        )
        return response.status, json.loads(response.body), dict(response.headers)

    def post(self, route: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        return self.request("POST", f"/auth/{route}", body, {"Content-Type": "application/json"})

    def me(self, headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
        status, body, _ = self.request("GET", "/auth/me", headers=headers, query=urlencode(query or {}))
        return status, body


@pytest.fixture(scope="session")
def api(handlers: dict[str, Handler]) -> Api:
    app = template.application()
    return Api(Gateway(app.api, lambda_runtime.LocalFunction.all_of(app)), handlers)


@contextlib.contextmanager
def dynamodb_requests(hook: Callable[[str, Any], Any]) -> Iterator[None]:
    """In the block, `hook(operation, request)` before each DynamoDB request the layer sends (`operation` as
    `GetItem`, `TransactWriteItems`, ...); a response it returns (botocore's AWSResponse) answers instead."""

    def before_send(request: Any, **_: Any) -> Any:
        target = dict(request.headers).get("X-Amz-Target", "")
        operation = (target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]
        return hook(operation, request)

    events = table.connection().client.meta.events
    events.register_first("before-send.dynamodb", before_send)
    try:
        yield
    finally:
        events.unregister("before-send.dynamodb", before_send)
