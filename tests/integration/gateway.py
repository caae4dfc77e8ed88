"""What API Gateway does between a request and the functions, for in-process tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import event

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class Gateway:
    """Calls the handlers the way the deployed REST API does, the authorizer before /auth/me."""

    def __init__(self, handlers: dict[str, Handler]):
        self.handlers = handlers

    def post(self, route: str, body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        response = self.handlers[route](event(route, body=body))
        return response["statusCode"], json.loads(response["body"]), response["headers"]

    def me(self, headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
        request_headers = {"Accept": "application/json", **(headers or {})}
        request = event(
            "authorizer",
            headers=request_headers,
            multiValueHeaders={k: [v] for k, v in request_headers.items()},
            queryStringParameters=query,
            multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        )
        try:
            policy = self.handlers["authorizer"](request)
        except Exception as refusal:
            # API Gateway answers an "Unauthorized" failure with its UNAUTHORIZED gateway response.
            assert str(refusal) == "Unauthorized"
            return 401, {"code": "ERROR_CODE_UNAUTHORIZED", "message": "Invalid token."}
        statement = policy["policyDocument"]["Statement"][0]
        assert statement["Effect"] == "Allow" and statement["Resource"] == request["methodArn"]
        # The backend sees the principal and the context, every value as text.
        authorizer = {"principalId": policy["principalId"]}
        authorizer.update({key: str(value) for key, value in policy.get("context", {}).items()})
        backend = event("me", headers=request_headers, queryStringParameters=query)
        backend["requestContext"]["authorizer"] = authorizer
        response = self.handlers["me"](backend)
        return response["statusCode"], json.loads(response["body"])
