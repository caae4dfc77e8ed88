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
from tests.conftest import ROOT, event, random_ip, unique_email
from tests.integration.conftest import Api

DOCUMENT = yaml.safe_load(Path(ROOT / "openapi.yaml").read_text())
REGISTRY = Registry().with_resource("urn:openapi", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))
PASSWORD = "correct horse 42"


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    responses = DOCUMENT["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, which openapi.yaml does not list"
    response = responses[str(status)]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def assert_documented(path: str, method: str, status: int, body: Any) -> None:
    schema = response_schema(path, method, status)
    pointer = schema["$ref"].removeprefix("#") if "$ref" in schema else None
    validator = Draft202012Validator({"$ref": f"urn:openapi#{pointer}"} if pointer else schema, registry=REGISTRY)
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


def test_every_error_response_has_an_example_of_its_own_code() -> None:
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                if "$ref" in response:
                    response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
                example = response["content"]["application/json"].get("example")
                assert example is not None, f"{method.upper()} {path} {status} has no example"
                assert_documented(path, method, int(status), example)
                expected = ERROR_CODE_BY_STATUS.get(int(status), api.FATAL_CODE)
                assert example["code"] == expected, f"{method.upper()} {path} {status}: {example['code']}"


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
