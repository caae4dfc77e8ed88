"""The Xano auth contract over real HTTP, against `lambda-auth serve` as a user runs it.

What each route answers to each kind of input is proven in tests/integration/test_api.py,
through the same gateway emulation without HTTP; here: the flow, both token carriers,
routing, CORS and the console, as a client over a socket sees them.
"""

from __future__ import annotations

import json
import re
import stat
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Reply, RunningServer, call

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse 42"
ACCESS_LOG_LINE = re.compile(r"\d\d:\d\d:\d\d [A-Z]+ /\S* \d{3} \d+ms")


def unique_email() -> str:
    return f"e2e.{uuid.uuid4().hex[:12]}@example.com"


def assert_error(reply: Reply, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["access-control-allow-origin"] == "*"
    body = reply.json()
    assert body["code"] == code and isinstance(body["message"], str) and body["message"]
    assert body.get("payload") == ({"param": param} if param else None)
    return dict(body)


@pytest.fixture(scope="module")
def user(server: RunningServer) -> dict[str, str]:
    """One signed-up user: email, password and the token signup returned."""
    email = unique_email()
    reply = call(f"{server.base_url}/auth/signup", "POST", {"name": "Ada", "email": email, "password": PASSWORD})
    assert reply.status == 200, reply.body
    return {"email": email, "password": PASSWORD, "token": reply.json()["authToken"]}


def me(server: RunningServer, token: str) -> Reply:
    return call(f"{server.base_url}/auth/me", headers={"Authorization": f"Bearer {token}"})


# The Xano flow


def test_the_banner_names_the_base_url_routes_data_store_and_key_file(server: RunningServer) -> None:
    banner = server.output.text()
    assert server.base_url.endswith("/api")
    for route in ("POST", "/api/auth/signup", "/api/auth/login", "GET", "/api/auth/me"):
        assert route in banner
    assert "in memory" in banner
    assert str(server.key_file) in banner


def test_signup_login_and_me_work_over_http_with_a_bearer_header(server: RunningServer) -> None:
    email = unique_email()
    signup = call(f"{server.base_url}/auth/signup", "POST", {"name": "Grace", "email": email, "password": PASSWORD})
    assert signup.status == 200 and list(signup.json()) == ["authToken"]
    assert signup.headers["content-type"] == "application/json"
    assert signup.headers["access-control-allow-origin"] == "*"
    login = call(f"{server.base_url}/auth/login", "POST", {"email": email, "password": PASSWORD})
    assert login.status == 200 and list(login.json()) == ["authToken"]
    profiles = [me(server, reply.json()["authToken"]) for reply in (signup, login)]
    assert [reply.status for reply in profiles] == [200, 200]
    profile = profiles[0].json()
    assert profile == profiles[1].json()
    assert set(profile) == {"id", "created_at", "name", "email"}
    assert profile["name"] == "Grace" and profile["email"] == email


def test_me_accepts_the_token_in_the_authtoken_query_parameter(server: RunningServer, user: dict[str, str]) -> None:
    reply = call(f"{server.base_url}/auth/me?authtoken={user['token']}")
    assert reply.status == 200 and reply.json()["email"] == user["email"]


def test_the_key_file_is_created_on_first_start_readable_by_its_owner_only(server: RunningServer) -> None:
    assert stat.S_IMODE(server.key_file.stat().st_mode) == 0o600
    assert len(json.loads(server.key_file.read_text())["keys"]) == 1


# 400


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_a_body_that_is_not_a_json_object_is_a_400(server: RunningServer, raw: bytes) -> None:
    reply = call(f"{server.base_url}/auth/login", "POST", raw_body=raw, headers={"Content-Type": "application/json"})
    assert_error(reply, 400, "ERROR_CODE_INPUT_ERROR")


# 401


def test_me_without_a_token_is_a_401_from_the_gateway(server: RunningServer) -> None:
    reply = call(f"{server.base_url}/auth/me")
    assert assert_error(reply, 401, "ERROR_CODE_UNAUTHORIZED")["message"] == "Invalid token."


# 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/nope"),
        ("GET", "/api"),
        ("GET", "/"),
        ("POST", "/auth/signup"),  # outside the stage
        ("DELETE", "/api/auth/me"),  # a route without that method
        ("GET", "/api/auth/signup"),
        ("POST", "/api/auth/signup/"),  # API Gateway does not ignore a trailing slash
    ],
)
def test_unknown_routes_and_methods_are_a_404_in_the_xano_shape(server: RunningServer, method: str, path: str) -> None:
    reply = call(f"{server.origin}{path}", method, {} if method == "POST" else None)
    body = assert_error(reply, 404, "ERROR_CODE_NOT_FOUND")
    assert body == {"code": "ERROR_CODE_NOT_FOUND", "message": "Unable to locate request."}


# CORS


@pytest.mark.parametrize("route", ["/auth/signup", "/auth/login", "/auth/me"])
def test_a_cors_preflight_answers_the_templates_headers_without_a_token(server: RunningServer, route: str) -> None:
    reply = call(
        f"{server.base_url}{route}",
        "OPTIONS",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.headers["access-control-allow-methods"] == "GET,POST,OPTIONS"
    assert (
        reply.headers["access-control-allow-headers"]
        == "Authorization,Content-Type,X-Xano-Authorization,X-Xano-Authorization-Only"
    )
    assert reply.headers["access-control-max-age"] == "600"


# The console


def test_the_access_log_has_one_line_per_request_without_query_string_or_token(
    server: RunningServer, user: dict[str, str]
) -> None:
    marker = f"/api/auth/me-{uuid.uuid4().hex}"
    call(f"{server.origin}{marker}?authtoken={user['token']}")
    call(f"{server.base_url}/auth/me?authtoken={user['token']}")

    def logged(lines: list[str]) -> bool:
        return any(marker in line for line in lines)

    assert server.output.wait_for(logged, timeout=10)
    lines = [line for line in server.output.lines if ACCESS_LOG_LINE.fullmatch(line)]
    assert any(line.endswith(("ms",)) and f"GET {marker} 404 " in line for line in lines)
    everything = server.output.text()
    assert user["token"] not in everything and user["token"][:40] not in everything
    assert "authtoken" not in everything and PASSWORD not in everything
