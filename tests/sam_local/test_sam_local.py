"""The functions under sam local, in Docker, against moto: `sam local invoke` with every events/ file, then
`sam local start-api` through Xano's flow over HTTP. Where sam local answers for API Gateway itself
(a refused token, an unknown route), its answers are its own, as the README lists them, and never a 5xx."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import EVENTS, unique_email
from tests.e2e.conftest import Reply, call

from .conftest import SamLocal

PASSWORD = "analytical1"
# The events in the order a user's requests come: me.json's authorizer context names user 1,
# whom signup.json creates first in the run's fresh table.
EVENT_ORDER = ("signup", "login", "me", "authorizer")
EVENT_FUNCTIONS = {
    "signup": "SignupFunction",
    "login": "LoginFunction",
    "me": "MeFunction",
    "authorizer": "AuthorizerFunction",
}
# sam local's own answers where API Gateway would send the template's gateway responses.
SAM_DENIED = {"message": "User is not authorized to access this resource"}
SAM_NO_ROUTE = {"message": "Missing Authentication Token"}


def event(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return document


@pytest.fixture(scope="module")
def invoked(sam: SamLocal) -> dict[str, Any]:
    """Each events/ file's answer from `sam local invoke`, in EVENT_ORDER, before any HTTP request."""
    return {name: sam.invoke(EVENT_FUNCTIONS[name], f"events/{name}.json") for name in EVENT_ORDER}


def test_every_event_file_is_invoked() -> None:
    assert {path.stem for path in EVENTS.glob("*.json")} == set(EVENT_ORDER)


def test_invoke_signs_up_and_logs_in_the_events_user(invoked: dict[str, Any]) -> None:
    for name in ("signup", "login"):
        answer = invoked[name]
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"])["authToken"].count(".") == 4, name  # compact JWE: five parts


def test_invoke_of_me_answers_the_user_the_authorizer_context_names(invoked: dict[str, Any]) -> None:
    answer = invoked["me"]
    assert answer["statusCode"] == 200, answer
    profile = json.loads(answer["body"])
    assert (profile["id"], profile["email"], profile["name"]) == (1, "ada@example.com", "Ada Lovelace")


def test_invoke_of_the_authorizer_denies_the_placeholder_token(invoked: dict[str, Any]) -> None:
    assert invoked["authorizer"] == {
        "principalId": "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": event("authorizer")["methodArn"]}
            ],
        },
    }


# start-api, over HTTP


@dataclass(frozen=True)
class User:
    email: str
    name: str
    token: str


def post(sam: SamLocal, path: str, body: Any = None, raw_body: bytes | None = None) -> Reply:
    return call(f"{sam.base_url}{path}", "POST", body=body, raw_body=raw_body)


@pytest.fixture(scope="module")
def user(sam: SamLocal, invoked: dict[str, Any]) -> User:
    """A user signed up over HTTP (after the invokes, which rely on a fresh table)."""
    email = unique_email("sam")
    reply = post(sam, "/auth/signup", {"name": "Grace", "email": email, "password": PASSWORD})
    assert reply.status == 200, reply.body
    assert reply.headers["access-control-allow-origin"] == "*"
    sam.secrets.append(reply.json()["authToken"])
    return User(email, "Grace", reply.json()["authToken"])


def test_login_answers_a_token_that_me_accepts_in_either_carrier(sam: SamLocal, user: User) -> None:
    login = post(sam, "/auth/login", {"email": user.email, "password": PASSWORD})
    assert login.status == 200, login.body
    token = login.json()["authToken"]
    sam.secrets.append(token)  # sent in the query string below, which sam local's log shows without it
    by_header = call(f"{sam.base_url}/auth/me", headers={"Authorization": f"Bearer {token}"})
    by_query = call(f"{sam.base_url}/auth/me?authtoken={token}")
    for reply in (by_header, by_query):
        assert reply.status == 200, reply.body
        assert set(reply.json()) == {"id", "created_at", "name", "email"}
        assert (reply.json()["email"], reply.json()["name"]) == (user.email, user.name)
    assert by_header.json() == by_query.json()


def test_the_signup_token_is_accepted_too(sam: SamLocal, user: User) -> None:
    reply = call(f"{sam.base_url}/auth/me", headers={"Authorization": f"Bearer {user.token}"})
    assert reply.status == 200 and reply.json()["email"] == user.email


@pytest.mark.parametrize("refused", ["tampered", "garbage", "none"])
def test_a_refused_token_is_sam_locals_403_never_a_5xx(sam: SamLocal, user: User, refused: str) -> None:
    header, key, iv, ciphertext, tag = user.token.split(".")
    flipped = ("A" if ciphertext[5] != "A" else "B").join((ciphertext[:5], ciphertext[6:]))
    headers = {
        "tampered": {"Authorization": f"Bearer {'.'.join((header, key, iv, flipped, tag))}"},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "none": {},
    }[refused]
    reply = call(f"{sam.base_url}/auth/me", headers=headers)
    # API Gateway answers the authorizer's Deny with the template's 401; sam local with its own 403,
    # which applies no gateway response, and so carries no CORS header.
    assert (reply.status, reply.json()) == (403, SAM_DENIED)
    assert "access-control-allow-origin" not in reply.headers


def test_a_second_signup_with_the_same_email_is_xanos_403(sam: SamLocal, user: User) -> None:
    reply = post(sam, "/auth/signup", {"name": "Again", "email": user.email, "password": PASSWORD})
    assert (reply.status, reply.json()) == (
        403,
        {"code": "ERROR_CODE_ACCESS_DENIED", "message": "This account is already in use."},
    )


def test_a_wrong_password_is_xanos_403(sam: SamLocal, user: User) -> None:
    reply = post(sam, "/auth/login", {"email": user.email, "password": "wrong guess 1"})
    assert (reply.status, reply.json()) == (
        403,
        {"code": "ERROR_CODE_ACCESS_DENIED", "message": "Invalid Credentials."},
    )


@pytest.mark.parametrize(
    ("body", "raw_body", "param"),
    [(None, b"not json", None), ({"email": "not an email", "password": PASSWORD}, None, "email")],
    ids=["not-json", "bad-email"],
)
def test_a_bad_body_is_xanos_400(sam: SamLocal, body: Any, raw_body: bytes | None, param: str | None) -> None:
    reply = post(sam, "/auth/signup", body, raw_body)
    assert reply.status == 400, reply.body
    assert reply.json()["code"] == "ERROR_CODE_INPUT_ERROR"
    assert reply.json().get("payload") == ({"param": param} if param else None)


@pytest.mark.parametrize("path", ["/auth/nothing", "/api/auth/me"], ids=["unknown", "with-the-stage"])
def test_an_unknown_route_is_sam_locals_403_and_its_paths_have_no_stage(sam: SamLocal, path: str) -> None:
    # API Gateway answers with the template's 404 in Xano's shape; sam local with its own 403.
    reply = call(f"{sam.base_url}{path}")
    assert (reply.status, reply.json()) == (403, SAM_NO_ROUTE)
