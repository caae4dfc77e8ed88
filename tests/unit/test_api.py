"""Events in, responses out: the one place typed errors become Xano's {code, message, payload}."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from lambda_auth import api, settings
from lambda_auth.errors import AccessDenied, AuthError, InputError, NotFound, TooManyRequests, Unauthorized
from lambda_auth.observability import metrics

ORIGIN = "https://app.example.com"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings of this test's own, whatever the process read before; metrics left unflushed."""
    monkeypatch.setenv("AUTH_TABLE_NAME", "users")
    monkeypatch.setenv("AUTH_JWKS_FILE", "/keys/jwks.json")
    monkeypatch.setenv("AUTH_CORS_ALLOW_ORIGIN", ORIGIN)
    settings.reset()
    yield
    settings.reset()
    metrics.clear_metrics()


def decoded(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


# error_response


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InputError("Missing param: email", "email"), 400, "ERROR_CODE_INPUT_ERROR"),
        (Unauthorized("expired"), 401, "ERROR_CODE_UNAUTHORIZED"),
        (AccessDenied("Invalid Credentials."), 403, "ERROR_CODE_ACCESS_DENIED"),
        (NotFound(), 404, "ERROR_CODE_NOT_FOUND"),
        (TooManyRequests(30), 429, "ERROR_CODE_TOO_MANY_REQUESTS"),
    ],
)
def test_error_response_carries_the_status_code_and_message(error: AuthError, status: int, code: str) -> None:
    response = api.error_response(error)
    assert response["statusCode"] == status
    body = decoded(response)
    assert body["code"] == code
    assert body["message"] == error.message and body["message"]


@pytest.mark.parametrize("error", [InputError("Bad."), Unauthorized(), AccessDenied(), TooManyRequests(1)])
def test_error_response_has_json_and_cors_headers(error: AuthError) -> None:
    headers = api.error_response(error)["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Access-Control-Allow-Origin"] == ORIGIN


def test_error_response_for_one_field_carries_its_param_as_payload() -> None:
    response = api.error_response(InputError("Missing param: email", "email"))
    assert decoded(response) == {
        "code": "ERROR_CODE_INPUT_ERROR",
        "message": "Missing param: email",
        "payload": {"param": "email"},
    }


@pytest.mark.parametrize("error", [InputError("The request body is not valid JSON."), Unauthorized(), AccessDenied()])
def test_error_response_without_a_payload_leaves_the_key_out(error: AuthError) -> None:
    assert set(decoded(api.error_response(error))) == {"code", "message"}


def test_unauthorized_response_never_tells_the_reason() -> None:
    body = decoded(api.error_response(Unauthorized("kid 'k9' unknown")))
    assert body == {"code": "ERROR_CODE_UNAUTHORIZED", "message": "Invalid token."}


@pytest.mark.parametrize(("retry_after", "header"), [(30, "30"), (1, "1"), (0, "1"), (-5, "1"), (2.4, "2")])
def test_too_many_requests_response_has_a_retry_after_of_at_least_one_second(retry_after: float, header: str) -> None:
    response = api.error_response(TooManyRequests(retry_after))  # type: ignore[arg-type]
    assert response["headers"]["Retry-After"] == header
    assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("error", [InputError("Bad.", "email"), Unauthorized(), AccessDenied(), NotFound()])
def test_only_too_many_requests_has_a_retry_after(error: AuthError) -> None:
    assert "Retry-After" not in api.error_response(error)["headers"]


def test_fatal_response_is_a_fixed_500_body() -> None:
    response = api.fatal_response()
    assert response["statusCode"] == 500
    assert decoded(response) == {"code": "ERROR_FATAL", "message": "Something went wrong. Please try again."}
    assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN


def test_json_response_keeps_non_ascii_text_as_is() -> None:
    assert api.json_response(200, {"name": "Ада 👩‍💻"})["body"] == '{"name":"Ада 👩‍💻"}'


# api


def test_api_answers_200_with_the_route_result_as_json() -> None:
    handler = api.handler(lambda event: {"authToken": "t", "echo": event["body"]})
    response = handler({"body": "x"}, None)
    assert response["statusCode"] == 200
    assert decoded(response) == {"authToken": "t", "echo": "x"}
    assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN


def test_api_turns_a_typed_error_into_its_response() -> None:
    def route(event: api.Event) -> object:
        raise InputError("Missing param: password", "password")

    response = api.handler(route)({}, None)
    assert response == api.error_response(InputError("Missing param: password", "password"))


def test_api_turns_an_unexpected_error_into_the_fatal_response_without_internals() -> None:
    def route(event: api.Event) -> object:
        raise RuntimeError("connect to dynamodb.internal:8000 failed for table users-prod")

    response = api.handler(route)({}, None)
    assert response == api.fatal_response()
    assert "dynamodb" not in response["body"] and "RuntimeError" not in response["body"]


# body


def test_body_parses_a_json_object() -> None:
    assert api.body({"body": '{"email": "ada@example.com"}', "isBase64Encoded": False}) == {"email": "ada@example.com"}


def test_body_decodes_a_base64_body() -> None:
    encoded = base64.b64encode('{"name": "Ада"}'.encode()).decode()
    assert api.body({"body": encoded, "isBase64Encoded": True}) == {"name": "Ада"}


@pytest.mark.parametrize("encoded", ["not base64!", "eyJhI", "eyJhIjoxfQ", "eyJh\nIjoxfQ==", "é"])
def test_body_that_is_not_valid_base64_is_an_input_error(encoded: str) -> None:
    with pytest.raises(InputError, match="base64"):
        api.body({"body": encoded, "isBase64Encoded": True})


def test_base64_body_that_is_not_an_object_is_an_input_error() -> None:
    with pytest.raises(InputError, match="JSON object"):
        api.body({"body": base64.b64encode(b"[1]").decode(), "isBase64Encoded": True})


@pytest.mark.parametrize("event", [{}, {"body": None}, {"body": ""}, {"body": None, "isBase64Encoded": True}])
def test_missing_body_is_an_input_error(event: api.Event) -> None:
    with pytest.raises(InputError):
        api.body(event)


def test_base64_text_not_marked_as_base64_is_read_as_json_and_refused() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        api.body({"body": base64.b64encode(b'{"a":1}').decode(), "isBase64Encoded": False})


# source_ip and authorized_user_id


def test_source_ip_is_read_from_the_request_identity() -> None:
    event = {"requestContext": {"identity": {"sourceIp": "203.0.113.7"}}}
    assert api.source_ip(event) == "203.0.113.7"


@pytest.mark.parametrize("event", [{}, {"requestContext": None}, {"requestContext": {"identity": {}}}])
def test_source_ip_is_none_when_the_event_has_none(event: api.Event) -> None:
    assert api.source_ip(event) is None


@pytest.mark.parametrize("principal", ["42", 42])
def test_authorized_user_id_is_the_authorizers_principal(principal: object) -> None:
    assert api.authorized_user_id({"requestContext": {"authorizer": {"principalId": principal}}}) == 42


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"requestContext": None},
        {"requestContext": {}},
        {"requestContext": {"authorizer": None}},
        {"requestContext": {"authorizer": {}}},
        {"requestContext": {"authorizer": {"principalId": None}}},
        {"requestContext": {"authorizer": {"principalId": ""}}},
        {"requestContext": {"authorizer": {"principalId": "user-42"}}},
        {"requestContext": {"authorizer": {"principalId": "4.2"}}},
    ],
)
def test_authorized_user_id_without_a_numeric_principal_is_unauthorized(event: api.Event) -> None:
    with pytest.raises(Unauthorized):
        api.authorized_user_id(event)
