"""The Xano auth contract, through the handlers as API Gateway invokes them, against moto's DynamoDB."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lambda_auth import tokens
from lambda_auth.keys import parse_key_set
from tests.conftest import LocalStack, event, unique_email
from tests.integration.conftest import Api

PASSWORD = "correct horse 42"


def signed_up(api: Api, email: str | None = None, name: str = "Ada") -> tuple[str, str]:
    email = email or unique_email()
    status, body, _ = api.post("signup", {"name": name, "email": email, "password": PASSWORD})
    assert status == 200, body
    return email, body["authToken"]


def assert_error(status: int, body: dict[str, Any], expected_status: int, code: str, param: str | None = None) -> None:
    assert status == expected_status, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    if param is None:
        assert "payload" not in body or body["payload"] is None
    else:
        assert body["payload"] == {"param": param}


# signup


def test_signup_returns_only_an_auth_token_that_is_a_compact_jwe(api: Api) -> None:
    status, body, headers = api.post("signup", {"name": "Ada", "email": unique_email(), "password": PASSWORD})
    assert status == 200
    assert list(body) == ["authToken"]
    assert body["authToken"].count(".") == 4
    assert headers["Content-Type"] == "application/json"
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_signup_then_me_returns_exactly_the_four_profile_fields(api: Api) -> None:
    before = int(time.time() * 1000)
    email, token = signed_up(api, name="Grace Hopper")
    status, body = api.me(headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    assert set(body) == {"id", "created_at", "name", "email"}
    assert isinstance(body["id"], int) and 0 < body["id"] < 2**53
    assert before <= body["created_at"] <= int(time.time() * 1000)
    assert body["name"] == "Grace Hopper"
    assert body["email"] == email


def test_signup_without_name_stores_an_empty_name(api: Api) -> None:
    status, body, _ = api.post("signup", {"email": unique_email(), "password": PASSWORD})
    assert status == 200
    _, profile = api.me(headers={"Authorization": f"Bearer {body['authToken']}"})
    assert profile["name"] == ""


def test_signup_trims_and_lowercases_the_email(api: Api) -> None:
    email = unique_email()
    _, token = signed_up(api, email=f"  {email.upper()}  ")
    _, profile = api.me(headers={"Authorization": f"Bearer {token}"})
    assert profile["email"] == email


def test_signup_ignores_unknown_fields(api: Api) -> None:
    email = unique_email()
    status, body, _ = api.post(
        "signup", {"email": email, "password": PASSWORD, "role": "admin", "id": 2**40, "created_at": 0}
    )
    assert status == 200
    _, profile = api.me(headers={"Authorization": f"Bearer {body['authToken']}"})
    assert set(profile) == {"id", "created_at", "name", "email"}
    assert profile["email"] == email and profile["id"] != 2**40 and profile["created_at"] > 0


def test_user_ids_are_distinct_integers(api: Api) -> None:
    ids = set()
    for _ in range(3):
        _, token = signed_up(api)
        ids.add(api.me(headers={"Authorization": f"Bearer {token}"})[1]["id"])
    assert len(ids) == 3


def test_signup_with_an_email_in_use_is_denied(api: Api) -> None:
    email, _ = signed_up(api)
    status, body, _ = api.post("signup", {"email": email.upper(), "password": "another one 1"})
    assert_error(status, body, 403, "ERROR_CODE_ACCESS_DENIED")
    assert body["message"] == "This account is already in use."


def test_concurrent_signups_with_one_email_have_exactly_one_winner(api: Api) -> None:
    email = unique_email("race")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: api.post("signup", {"email": email, "password": PASSWORD}), range(8)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] + [403] * 7
    token = next(body["authToken"] for status, body, _ in results if status == 200)
    assert api.me(headers={"Authorization": f"Bearer {token}"})[1]["email"] == email


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "", "password": PASSWORD}, "email"),
        ({"email": "not-an-address", "password": PASSWORD}, "email"),
        ({"email": "a@b", "password": PASSWORD}, "email"),
        ({"email": "x" * 250 + "@example.com", "password": PASSWORD}, "email"),
        ({"email": 42, "password": PASSWORD}, "email"),
        ({"email": "ok@example.com"}, "password"),
        ({"email": "ok@example.com", "password": "short1"}, "password"),
        ({"email": "ok@example.com", "password": "onlyletters"}, "password"),
        ({"email": "ok@example.com", "password": "1234567890"}, "password"),
        ({"email": "ok@example.com", "password": "a1" * 65}, "password"),
        ({"email": "ok@example.com", "password": ["a1234567"]}, "password"),
        ({"email": "ok@example.com", "password": PASSWORD, "name": 7}, "name"),
        ({"email": "ok@example.com", "password": PASSWORD, "name": "nul\u0000byte"}, "name"),
        ({"email": "ok@example.com", "password": PASSWORD, "name": "x" * 201}, "name"),
    ],
)
def test_signup_with_a_missing_or_invalid_field_names_it(api: Api, body: dict[str, Any], param: str) -> None:
    status, response, _ = api.post("signup", body)
    assert_error(status, response, 400, "ERROR_CODE_INPUT_ERROR", param)


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null", "", "[" * 5000 + "]" * 5000])
def test_signup_with_a_body_that_is_not_a_json_object_is_an_input_error(api: Api, raw: str) -> None:
    response = api.handlers["signup"](event("signup", body=raw))
    assert_error(response["statusCode"], json.loads(response["body"]), 400, "ERROR_CODE_INPUT_ERROR")


def test_a_base64_encoded_body_is_decoded(api: Api) -> None:
    import base64

    raw = json.dumps({"email": unique_email(), "password": PASSWORD}).encode()
    response = api.handlers["signup"](event("signup", body=base64.b64encode(raw).decode(), isBase64Encoded=True))
    assert response["statusCode"] == 200


def test_names_in_any_script_and_emoji_come_back_intact(api: Api) -> None:
    name = "Zoë 李小龍 Ελένη 🦊👩🏽‍💻"
    _, token = signed_up(api, name=name)
    assert api.me(headers={"Authorization": f"Bearer {token}"})[1]["name"] == name


# login


def test_login_returns_a_token_for_the_same_user(api: Api) -> None:
    email, signup_token = signed_up(api)
    status, body, _ = api.post("login", {"email": email, "password": PASSWORD})
    assert status == 200 and list(body) == ["authToken"]
    first = api.me(headers={"Authorization": f"Bearer {signup_token}"})[1]
    second = api.me(headers={"Authorization": f"Bearer {body['authToken']}"})[1]
    assert first == second


def test_login_email_is_case_insensitive_and_trimmed(api: Api) -> None:
    email, _ = signed_up(api)
    status, _, _ = api.post("login", {"email": f" {email.upper()} ", "password": PASSWORD})
    assert status == 200


def test_login_with_a_wrong_password_is_denied(api: Api) -> None:
    email, _ = signed_up(api)
    status, body, _ = api.post("login", {"email": email, "password": PASSWORD + "x"})
    assert_error(status, body, 403, "ERROR_CODE_ACCESS_DENIED")
    assert body["message"] == "Invalid Credentials."


def test_login_with_unknown_email_is_denied_like_a_wrong_password(api: Api) -> None:
    email, _ = signed_up(api)
    _, wrong_password, _ = api.post("login", {"email": email, "password": "nope nope 1"})
    status, unknown_email, _ = api.post("login", {"email": unique_email(), "password": "nope nope 1"})
    assert status == 403
    assert unknown_email == wrong_password


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "ok@example.com"}, "password"),
        ({"email": "x", "password": "p"}, "email"),
    ],
)
def test_login_with_a_missing_or_invalid_field_names_it(api: Api, body: dict[str, Any], param: str) -> None:
    status, response, _ = api.post("login", body)
    assert_error(status, response, 400, "ERROR_CODE_INPUT_ERROR", param)


# me and the authorizer


def test_me_accepts_the_token_in_the_authtoken_query_parameter(api: Api) -> None:
    email, token = signed_up(api)
    status, body = api.me(query={"authtoken": token})
    assert status == 200 and body["email"] == email


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(api: Api, scheme: str) -> None:
    _, token = signed_up(api)
    assert api.me(headers={"authorization": f"{scheme} {token}"})[0] == 200


def test_me_without_a_token_is_unauthorized(api: Api) -> None:
    assert api.me()[0] == 401


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "Bearer not.a.jwe.at.all"])
def test_me_with_a_malformed_authorization_header_is_unauthorized(api: Api, header: str) -> None:
    assert api.me(headers={"Authorization": header})[0] == 401


def test_a_malformed_token_in_the_query_string_is_unauthorized(api: Api) -> None:
    assert api.me(query={"authtoken": "garbage"})[0] == 401


def test_an_authorization_header_wins_over_the_query_parameter(api: Api) -> None:
    _, token = signed_up(api)
    assert api.me(headers={"Authorization": "Bearer junk"}, query={"authtoken": token})[0] == 401


def test_me_with_a_tampered_token_is_unauthorized(api: Api) -> None:
    _, token = signed_up(api)
    header, key, iv, ciphertext, tag = token.split(".")
    flipped = ("A" if ciphertext[5] != "A" else "B").join((ciphertext[:5], ciphertext[6:]))
    assert api.me(headers={"Authorization": f"Bearer {'.'.join((header, key, iv, flipped, tag))}"})[0] == 401


def test_me_with_an_expired_token_is_unauthorized(api: Api, stack: LocalStack) -> None:
    _, token = signed_up(api)
    user_id = api.me(headers={"Authorization": f"Bearer {token}"})[1]["id"]
    keys = parse_key_set(stack.jwks_path.read_text())
    expired = tokens.issue(keys, user_id, ttl_seconds=60, now=time.time() - 120)
    assert api.me(headers={"Authorization": f"Bearer {expired}"})[0] == 401


def test_me_with_a_token_from_an_unknown_key_is_unauthorized(api: Api) -> None:
    from lambda_auth.keys import new_key

    other = parse_key_set(json.dumps({"keys": [new_key("test-1")]}))  # same kid, other key
    stranger = parse_key_set(json.dumps({"keys": [new_key("someone-else")]}))
    for keys in (other, stranger):
        assert api.me(headers={"Authorization": f"Bearer {tokens.issue(keys, 1, 3600)}"})[0] == 401


def test_me_for_a_user_that_no_longer_exists_is_unauthorized(api: Api, stack: LocalStack) -> None:
    keys = parse_key_set(stack.jwks_path.read_text())
    status, body = api.me(headers={"Authorization": f"Bearer {tokens.issue(keys, 2**53 - 1, 3600)}"})
    assert_error(status, body, 401, "ERROR_CODE_UNAUTHORIZED")


def test_me_does_not_decrypt_the_token_again(api: Api) -> None:
    # The backend trusts the authorizer's context: a request with no token at all but
    # an authorizer principal (as API Gateway forwards it) is answered from that id.
    _, token = signed_up(api)
    user_id = api.me(headers={"Authorization": f"Bearer {token}"})[1]["id"]
    backend = event("me", headers={})
    backend["requestContext"]["authorizer"] = {"principalId": str(user_id)}
    response = api.handlers["me"](backend)
    assert response["statusCode"] == 200 and json.loads(response["body"])["id"] == user_id


def test_the_authorizer_hands_the_user_id_and_extras_to_the_backend(api: Api) -> None:
    _, token = signed_up(api)
    policy = api.handlers["authorizer"](event("authorizer", headers={"Authorization": f"Bearer {token}"}))
    assert policy["principalId"].isdigit()
    assert policy["context"]["userId"] == int(policy["principalId"])
    assert json.loads(policy["context"]["extras"]) == {}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer not-a-token"}],
    ids=["no-token", "not-bearer", "malformed"],
)
def test_the_authorizer_refuses_with_a_deny_of_the_method_and_no_user(api: Api, headers: dict[str, str]) -> None:
    # A Deny, not a raised "Unauthorized": sam local takes the latter for a failure (502).
    request = event("authorizer", headers=headers)
    assert api.handlers["authorizer"](request) == {
        "principalId": "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": request["methodArn"]}],
        },
    }


def test_no_response_reveals_the_password_or_its_hash(api: Api) -> None:
    email, token = signed_up(api)
    _, login_body, _ = api.post("login", {"email": email, "password": PASSWORD})
    _, profile = api.me(headers={"Authorization": f"Bearer {token}"})
    for body in (login_body, profile):
        text = json.dumps(body)
        assert PASSWORD not in text and "argon2" not in text


def test_an_unexpected_failure_is_a_fatal_error_without_internals(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_auth.store import users

    def broken(*args: object) -> None:
        raise RuntimeError("table exploded at /var/task/users.py line 12")

    monkeypatch.setattr(users, "get_credentials", broken)
    status, body, headers = api.post("login", {"email": unique_email(), "password": PASSWORD})
    assert status == 500
    assert body == {"code": "ERROR_FATAL", "message": "Something went wrong. Please try again."}
    assert headers["Content-Type"] == "application/json"
