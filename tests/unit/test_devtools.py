"""Run & Debug's guard: it hands out tokens for any user, so it answers only where that is safe."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from lambda_auth_cli import admin, serve
from lambda_auth_cli.devtools import DevTools
from lambda_auth_cli.gateway import Request
from lambda_auth_cli.jwks_file import JwksFile
from lambda_auth_cli.local_aws import is_loopback


def no_keys() -> Any:
    raise AssertionError("no test here issues a token")


DIRECTORY = admin.UserDirectory(read_keys=no_keys, default_ttl_seconds=60, description="a test directory")


def request(path: str, host: str = "127.0.0.1:3000") -> Request:
    return Request(
        method="GET", path=path, query="", headers=[("Host", host)], body=b"", source_ip="127.0.0.1", server_port=3000
    )


def tools(enabled: bool = True, loopback_only: bool = True) -> DevTools:
    return DevTools(
        "/api",
        "http://127.0.0.1:3000",
        DIRECTORY,
        enabled=enabled,
        loopback_only=loopback_only,
        outbox_path=Path("/nonexistent/outbox.jsonl"),
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "app.localhost"])
def test_loopback_names_and_addresses_are_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "localhost.example.com", ""],  # noqa: S104
)
def test_other_names_and_addresses_are_not(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    "path", ["/docs", "/openapi.json", "/docs/assets/run-and-debug.js", "/_local/users", "/_local/outbox"]
)
def test_every_route_is_refused_when_run_and_debug_is_off(path: str) -> None:
    response = tools(enabled=False).handle(request(path))
    assert response.status == 403
    assert "--allow-remote-debug" in json.loads(response.body)["message"]


def test_with_the_flag_any_host_name_is_accepted() -> None:
    assert tools(loopback_only=False).handle(request("/openapi.json", host="192.168.1.10:3000")).status == 200


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/docs", "/", "/doc", "/docsx", "/_localx"])
def test_paths_of_the_api_and_others_go_to_the_gateway(path: str) -> None:
    assert not DevTools.handles(path)


@pytest.mark.parametrize(
    ("host", "allow", "enabled", "says"),
    [
        ("127.0.0.1", False, True, "http://127.0.0.1:3000/docs"),
        ("0.0.0.0", False, False, "Run & Debug off: 0.0.0.0 is not a loopback address"),  # noqa: S104
        ("0.0.0.0", True, True, "open to anyone who reaches this address"),  # noqa: S104
    ],
)
def test_serve_turns_run_and_debug_on_only_on_loopback_unless_allowed_and_says_so(
    host: str, allow: bool, enabled: bool, says: str, tmp_path: Any
) -> None:
    arguments = argparse.Namespace(host=host, allow_remote_debug=allow)
    devtools, line = serve.devtools(arguments, 3000, "/api", JwksFile(tmp_path / "jwks.json"))
    assert devtools.enabled is enabled and devtools.loopback_only is not allow
    assert says in line


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b"{not json", b'"text"'])
def test_a_token_request_that_is_not_a_json_object_is_a_400(body: bytes) -> None:
    request = Request(
        method="POST",
        path="/_local/token",
        query="",
        headers=[("Host", "127.0.0.1:3000"), ("Content-Type", "application/json")],
        body=body,
        source_ip="127.0.0.1",
        server_port=3000,
    )
    response = tools().handle(request)
    assert response.status == 400 and json.loads(response.body)["code"] == "ERROR_CODE_INPUT_ERROR"
