"""Run & Debug's routes over HTTP: the page, its assets, /openapi.json and the picker's endpoints,
served by the local server beside the API and never part of it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from lambda_auth import tokens
from lambda_auth.keys import parse_key_set
from lambda_auth_cli import template
from tests.e2e.conftest import ROOT, RunningServer, call

pytestmark = pytest.mark.e2e

PASSWORD = "analytical1"


@pytest.fixture(scope="module")
def person(server: RunningServer) -> dict[str, Any]:
    """A user signed up through the API: their profile."""
    email = f"noor.{uuid.uuid4().hex[:10]}@example.com"
    token = call(f"{server.base_url}/auth/signup", "POST", {"name": "Noor", "email": email, "password": PASSWORD})
    assert token.status == 200
    me = call(f"{server.base_url}/auth/me", headers={"Authorization": f"Bearer {token.json()['authToken']}"})
    profile: dict[str, Any] = me.json()
    return profile


def mint(server: RunningServer, body: Any, **headers: str) -> Any:
    return call(f"{server.origin}/_local/token", "POST", body, headers=headers or None)


def test_docs_is_a_page_that_may_load_only_from_this_server(server: RunningServer) -> None:
    reply = call(f"{server.origin}/docs")
    assert reply.status == 200 and reply.headers["content-type"] == "text/html; charset=utf-8"
    policy = reply.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy
    page = reply.body.decode()
    assert 'src="/docs/assets/swagger-ui-bundle.js"' in page and "<script>" not in page  # no inline script


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("run-and-debug.js", "text/javascript"),
        ("run-and-debug.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ],
)
def test_the_pages_assets_are_served_from_installed_packages(
    server: RunningServer, asset: str, content_type: str
) -> None:
    reply = call(f"{server.origin}/docs/assets/{asset}")
    assert reply.status == 200 and reply.headers["content-type"].startswith(content_type)
    assert len(reply.body) > 100


@pytest.mark.parametrize("asset", ["nope.js", "../main.py", "..%2Fmain.py", "index.html"])
def test_an_asset_that_is_not_one_of_the_pages_is_a_404(server: RunningServer, asset: str) -> None:
    assert call(f"{server.origin}/docs/assets/{asset}").status == 404


def test_openapi_json_is_openapi_yaml_with_this_server_as_its_server(server: RunningServer) -> None:
    reply = call(f"{server.origin}/openapi.json")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    served = reply.json()
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert served["servers"] == [{"url": server.base_url, "description": "this local server (lambda-auth serve)"}]
    assert {key: value for key, value in served.items() if key != "servers"} == {
        key: value for key, value in document.items() if key != "servers"
    }


def test_the_user_list_finds_a_user_by_part_of_their_email(server: RunningServer, person: dict[str, Any]) -> None:
    reply = call(f"{server.origin}/_local/users?search={person['email'][:12].upper()}&limit=5")
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    assert reply.json()["users"] == [person]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "many"])
def test_a_user_list_limit_outside_1_to_1000_is_a_400(server: RunningServer, limit: str) -> None:
    reply = call(f"{server.origin}/_local/users?limit={limit}")
    assert reply.status == 400 and reply.json()["code"] == "ERROR_CODE_INPUT_ERROR"


@pytest.mark.parametrize("by", ["id", "email"])
def test_a_token_from_the_picker_is_accepted_by_me(server: RunningServer, person: dict[str, Any], by: str) -> None:
    reply = mint(server, {by: person[by]})
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    answer = reply.json()
    assert answer["user"] == person
    me = call(f"{server.base_url}/auth/me?authtoken={answer['authToken']}")
    assert me.status == 200 and me.json() == person


def test_a_token_from_the_picker_carries_its_extras_and_lifetime(server: RunningServer, person: dict[str, Any]) -> None:
    answer = mint(server, {"id": person["id"], "extras": {"role": "admin"}, "ttl": 120}).json()
    claims = tokens.verify(parse_key_set(server.key_file.read_text()), answer["authToken"])
    assert claims.user_id == person["id"] and claims.extras == {"role": "admin"}
    assert claims.expires_at - claims.issued_at == 120 == answer["expires_at"] - claims.issued_at


def test_a_token_for_a_user_that_does_not_exist_is_a_404(server: RunningServer) -> None:
    for body in ({"id": 2**52}, {"email": f"nobody.{uuid.uuid4().hex}@example.com"}):
        reply = mint(server, body)
        assert reply.status == 404 and reply.json()["code"] == "ERROR_CODE_NOT_FOUND"
        assert reply.json()["message"].startswith("no user")


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"id": 1, "email": "ada@example.com"},
        {"id": "1"},
        {"id": 0},
        {"id": True},
        {"email": ""},
        {"id": 1, "extras": []},
        {"id": 1, "ttl": "60"},
        {"id": 1, "ttl": 0},
    ],
)
def test_a_token_request_that_names_no_user_clearly_or_has_bad_options_is_a_400(
    server: RunningServer, body: Any
) -> None:
    reply = mint(server, body)
    assert reply.status == 400 and reply.json()["code"] == "ERROR_CODE_INPUT_ERROR", reply.json()


def test_a_token_request_that_is_not_json_is_refused_so_other_sites_cannot_send_one(
    server: RunningServer, person: dict[str, Any]
) -> None:
    form = call(
        f"{server.origin}/_local/token",
        "POST",
        raw_body=f"id={person['id']}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 415


def mail_to(server: RunningServer, email: str, timeout: float = 20.0) -> list[dict[str, str]]:
    """The outbox's messages, newest first, once one to `email` is among them (the mailer runs after the answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages: list[dict[str, str]] = call(f"{server.origin}/_local/outbox?limit=1000").json()["messages"]
        if any(message["to"] == email for message in messages):
            return messages
        time.sleep(0.05)
    pytest.fail(f"no mail to {email} within {timeout} s")


def test_the_outbox_route_lists_the_mail_newest_first(server: RunningServer, person: dict[str, Any]) -> None:
    assert call(f"{server.base_url}/auth/password-reset", "POST", {"email": person["email"]}).status == 200
    everything = mail_to(server, person["email"])
    reply = call(f"{server.origin}/_local/outbox?limit=1")
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    answer = reply.json()
    assert answer["limit"] == 1 and answer["total"] == len(everything) >= 1
    assert answer["messages"] == everything[:1]
    (newest,) = answer["messages"]
    assert list(newest) == ["to", "subject", "text", "sent_at"]
    assert newest["to"] == person["email"] and newest["subject"] == "Your password reset code"
    outbox = [json.loads(line) for line in (server.key_file.parent / "outbox.jsonl").read_text().splitlines()]
    assert everything == outbox[::-1]  # the file's order, newest first


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
def test_an_outbox_limit_outside_1_to_1000_is_a_400(server: RunningServer, limit: str) -> None:
    reply = call(f"{server.origin}/_local/outbox?limit={limit}")
    assert reply.status == 400 and reply.json()["code"] == "ERROR_CODE_INPUT_ERROR"


def test_the_outbox_route_takes_only_get(server: RunningServer) -> None:
    reply = call(f"{server.origin}/_local/outbox", "POST", {})
    assert reply.status == 405 and reply.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("origin", ["http://attacker.example", "null", "http://127.0.0.1:1"])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/_local/outbox"), ("GET", "/_local/users"), ("POST", "/_local/token")]
)
def test_a_request_from_a_page_of_another_origin_is_refused(
    server: RunningServer, person: dict[str, Any], origin: str, method: str, path: str
) -> None:
    body = {"id": person["id"]} if method == "POST" else None
    reply = call(f"{server.origin}{path}", method, body, headers={"Origin": origin})
    assert reply.status == 403 and reply.json()["code"] == "ERROR_CODE_ACCESS_DENIED"
    assert b"authToken" not in reply.body and b"messages" not in reply.body
    assert "access-control-allow-origin" not in reply.headers


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/_local/outbox"), ("GET", "/_local/users"), ("POST", "/_local/token")]
)
def test_the_pages_own_origin_is_accepted(
    server: RunningServer, person: dict[str, Any], method: str, path: str
) -> None:
    body = {"id": person["id"]} if method == "POST" else None
    assert call(f"{server.origin}{path}", method, body, headers={"Origin": server.origin}).status == 200


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/_local/users", "/_local/outbox"])
def test_a_host_that_is_not_a_loopback_name_is_refused(server: RunningServer, path: str) -> None:
    reply = call(f"{server.origin}{path}", headers={"Host": "attacker.example:3000"})
    assert reply.status == 403 and reply.json()["code"] == "ERROR_CODE_ACCESS_DENIED"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_host_names_are_accepted(server: RunningServer, host: str) -> None:
    port = server.origin.rsplit(":", 1)[1]
    assert call(f"{server.origin}/openapi.json", headers={"Host": f"{host}:{port}"}).status == 200


def test_the_routes_are_not_in_the_deployed_api(server: RunningServer) -> None:
    for path in ("/docs", "/openapi.json", "/_local/users", "/_local/token", "/_local/outbox"):
        reply = call(f"{server.base_url}{path}")  # under the stage, where API Gateway routes
        assert reply.status == 404 and reply.json()["code"] == "ERROR_CODE_NOT_FOUND"
    deployed = {method.resource_path for method in template.application().api.methods}
    assert deployed == {
        "/auth/signup",
        "/auth/login",
        "/auth/me",
        "/auth/logout",
        "/auth/password",
        "/auth/password-reset",
        "/auth/password-reset/confirm",
    }
    text = Path(ROOT / "template.yaml").read_text()
    assert "/_local" not in text and "/docs" not in text and "openapi.json" not in text


def test_the_banner_names_the_run_and_debug_page(server: RunningServer) -> None:
    assert f"{server.origin}/docs" in server.output.text()


def test_the_server_records_its_url_beside_its_key_file_while_it_runs(server: RunningServer) -> None:
    record = json.loads((server.key_file.parent / "server.json").read_text())
    assert record["url"] == server.origin and record["pid"] == server.process.pid
