"""openapi.yaml is the API's one description: every answer the handlers give must fit it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from lambda_auth import api, auth, limits
from lambda_auth.errors import AccessDenied, InputError, TooManyRequests, Unauthorized
from lambda_auth_cli import template as local_template
from lambda_auth_cli.gateway import REQUEST_TOO_LARGE, Gateway
from tests.conftest import ROOT, event, random_ip, unique_email
from tests.integration.conftest import Api

DOCUMENT = yaml.safe_load(Path(ROOT / "openapi.yaml").read_text())
REGISTRY = Registry().with_resource("urn:openapi", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))
PASSWORD = "correct horse 42"


def _escaped(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def response_pointer(path: str, method: str, status: int) -> str:
    """Where, in the document, the JSON schema of this answer is (a referenced response followed)."""
    responses = DOCUMENT["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, which openapi.yaml does not list"
    response = responses[str(status)]
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#")
    else:
        pointer = f"/paths/{_escaped(path)}/{method}/responses/{status}"
    return f"{pointer}/content/application~1json/schema"


def assert_documented(path: str, method: str, status: int, body: Any) -> None:
    validator = Draft202012Validator(
        {"$ref": f"urn:openapi#{response_pointer(path, method, status)}"}, registry=REGISTRY
    )
    errors = [error.message for error in validator.iter_errors(body)]
    assert not errors, f"{method.upper()} {path} {status}: {errors}"


def test_signup_answers_fit_the_description(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    email = unique_email()
    for body in (
        {"email": email, "password": PASSWORD, "name": "Ada"},
        {"email": email, "password": PASSWORD},
        {"email": "nope", "password": PASSWORD},
        [],
    ):
        status, answer, _ = api.post("signup", body)
        assert_documented("/auth/signup", "post", status, answer)
    monkeypatch.setattr(auth, "SIGNUP_PER_IP", limits.Limit("signup-ip", 1, 3600))
    address = random_ip()
    statuses = []
    for _ in range(2):
        response = api.handlers["signup"](
            event("signup", body=json.dumps({"email": unique_email(), "password": PASSWORD}), source_ip=address)
        )
        statuses.append(response["statusCode"])
        assert_documented("/auth/signup", "post", response["statusCode"], json.loads(response["body"]))
    assert statuses == [200, 429]


def test_login_answers_fit_the_description(api: Api) -> None:
    email = unique_email()
    api.post("signup", {"email": email, "password": PASSWORD})
    for body in (
        {"email": email, "password": PASSWORD},
        {"email": email, "password": "wrong guess 1"},
        {"email": unique_email(), "password": "wrong guess 1"},
        {"email": email},
    ):
        status, answer, _ = api.post("login", body)
        assert_documented("/auth/login", "post", status, answer)


def test_me_answers_fit_the_description(api: Api) -> None:
    _, answer, _ = api.post("signup", {"email": unique_email(), "password": PASSWORD, "name": "Grace 🦊"})
    for headers in ({"Authorization": f"Bearer {answer['authToken']}"}, {"Authorization": "Bearer junk"}, {}):
        status, body = api.me(headers=headers)
        assert_documented("/auth/me", "get", status, body)


def test_every_error_code_the_layer_can_raise_is_documented() -> None:
    from lambda_auth import errors

    documented = set(DOCUMENT["components"]["schemas"]["Error"]["properties"]["code"]["enum"])
    raised = {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.AuthError)}
    assert raised | {api.FATAL_CODE} <= documented


ERROR_CODE_BY_STATUS = {
    error.status: error.code for error in (InputError("x"), Unauthorized(), AccessDenied(), TooManyRequests(1))
}
# API Gateway's own answers, in the shape of the template's gateway responses: REQUEST_TOO_LARGE
# through DEFAULT_4XX, and DEFAULT_5XX for every 5xx.
ERROR_CODE_BY_STATUS[413] = "ERROR_CODE_BAD_REQUEST"


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation) for path, items in DOCUMENT["paths"].items() for method, operation in items.items()
    ]


def resolved(response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in response:
        found: dict[str, Any] = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        return found
    return response


def test_every_error_response_has_an_example_of_its_own_code() -> None:
    for path, method, operation in operations():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            example = resolved(response)["content"]["application/json"].get("example")
            assert example is not None, f"{method.upper()} {path} {status} has no example"
            assert_documented(path, method, int(status), example)
            if "code" not in example:  # API Gateway's own shape, under sam local
                assert set(example) == {"message"}, f"{method.upper()} {path} {status}: {example}"
                continue
            expected = ERROR_CODE_BY_STATUS.get(int(status), api.FATAL_CODE)
            assert example["code"] == expected, f"{method.upper()} {path} {status}: {example['code']}"


SECURED = {"bearerAuth", "xanoAuthorization", "authtokenQuery"}


def test_every_operation_has_a_tag_and_lists_what_api_gateway_can_answer() -> None:
    for path, method, operation in operations():
        label = f"{method.upper()} {path}"
        assert operation.get("tags"), label
        statuses = set(operation["responses"])
        assert {"429", "500", "502", "503", "504"} <= statuses, label
        if "requestBody" in operation:
            assert {"400", "413"} <= statuses, label
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        assert schemes in (set(), SECURED), label
        if schemes:
            assert {"401", "403"} <= statuses, label


def _xano(token: str) -> dict[str, Any]:
    return {"headers": {"X-Xano-Authorization": f"Bearer {token}"}}


CARRIERS = {
    "bearerAuth": lambda token: {"headers": {"Authorization": f"Bearer {token}"}},
    "xanoAuthorization": _xano,
    "authtokenQuery": lambda token: {"queryStringParameters": {"authtoken": token}},
}


@pytest.mark.parametrize("scheme", sorted(SECURED))
def test_every_security_scheme_is_a_carrier_the_authorizer_reads(scheme: str) -> None:
    from lambda_auth import authorizer

    declared = DOCUMENT["components"]["securitySchemes"][scheme]
    if declared["type"] == "apiKey":
        where = "headers" if declared["in"] == "header" else "queryStringParameters"
        event = CARRIERS[scheme]("the-token")
        assert declared["name"] in event[where]
    assert authorizer.token_from_request(CARRIERS[scheme]("the-token")) == "the-token"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_logout_answers_fit_the_description(api: Api) -> None:
    _, answer, _ = api.post("signup", {"email": unique_email(), "password": PASSWORD})
    token = answer["authToken"]
    for body, headers in (({"scope": "nowhere"}, _bearer(token)), ({}, _bearer(token)), ({}, _bearer(token)), ({}, {})):
        status, reply, _ = api.request("POST", "/auth/logout", body, headers)
        assert_documented("/auth/logout", "post", status, reply)


def test_password_change_answers_fit_the_description(api: Api) -> None:
    _, answer, _ = api.post("signup", {"email": unique_email(), "password": PASSWORD})
    headers = _bearer(answer["authToken"])
    for body in (
        {"current_password": "not the one 1", "new_password": "another one 2"},
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": "another one 2"},
    ):
        status, reply, _ = api.request("POST", "/auth/password", body, headers)
        assert_documented("/auth/password", "post", status, reply)
    status, reply, _ = api.request("POST", "/auth/password", {"current_password": PASSWORD}, {})
    assert_documented("/auth/password", "post", status, reply)


def test_password_reset_answers_fit_the_description(api: Api) -> None:
    for body in ({"email": unique_email()}, {"email": "nope"}, []):
        status, reply, _ = api.post("password-reset", body)
        assert_documented("/auth/password-reset", "post", status, reply)
    for body in (
        {"email": unique_email(), "code": "12345678", "new_password": "another one 2"},
        {"email": unique_email(), "code": "12345678"},
    ):
        status, reply, _ = api.post("password-reset/confirm", body)
        assert_documented("/auth/password-reset/confirm", "post", status, reply)


def test_api_gateways_own_answers_fit_the_description() -> None:
    """The template's gateway responses, as the local server's emulation of API Gateway renders them."""
    app = local_template.application()
    gateway = Gateway(app.api, {})
    throttled = app.api.gateway_responses["THROTTLED"]
    answers = [
        (413, gateway.gateway_response(REQUEST_TOO_LARGE, "request"), lambda operation: "requestBody" in operation),
        (401, gateway.gateway_response("UNAUTHORIZED", "request"), lambda operation: bool(operation["security"])),
        (401, gateway.gateway_response("ACCESS_DENIED", "request"), lambda operation: bool(operation["security"])),
        (500, gateway.gateway_response("AUTHORIZER_FAILURE", "request"), lambda operation: bool(operation["security"])),
        (502, gateway.gateway_response("DEFAULT_5XX", "request"), lambda operation: True),
    ]
    for status, response, applies in answers:
        assert response.status == status
        for path, method, operation in operations():
            if applies(operation):
                assert_documented(path, method, status, json.loads(response.body))
    # Not emulated locally (no throttling, no integration timeout): the template's bodies for them.
    assert throttled.status == 429
    for path, method, _ in operations():
        assert_documented(path, method, 429, json.loads(throttled.templates["application/json"]))
        for status in (503, 504):
            assert_documented(path, method, status, json.loads(gateway.gateway_response("DEFAULT_5XX", "request").body))
