"""`lambda-auth users` and `lambda-auth token` as a user runs them: against the running local
server by default, against a DynamoDB endpoint when no server runs; help, exit statuses and
one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_auth import tokens
from lambda_auth.keys import new_key, parse_key_set
from lambda_auth_cli import local_aws, template
from tests.conftest import LocalStack
from tests.e2e.conftest import RunningServer, call, run_cli
from tests.e2e.conftest import assert_one_line_error as cli_error

pytestmark = pytest.mark.e2e

PASSWORD = "analytical1"
lambda_auth = run_cli


def assert_one_line_error(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    return cli_error(result, exit_code, stdout_empty=True)


@pytest.fixture(scope="module")
def tag() -> str:
    """A string only this module's emails contain."""
    return f"cmd{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def people(server: RunningServer, tag: str) -> list[dict[str, Any]]:
    """Two users signed up on the running server: their profiles, in id order."""
    profiles = []
    for name in ("Ada", "Grace"):
        email = f"{name.lower()}.{tag}@example.com"
        signup = call(f"{server.base_url}/auth/signup", "POST", {"name": name, "email": email, "password": PASSWORD})
        assert signup.status == 200
        me = call(f"{server.base_url}/auth/me", headers={"Authorization": f"Bearer {signup.json()['authToken']}"})
        profiles.append(me.json())
    return profiles


def on_server(server: RunningServer, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The command, pointed at the session's server by its key file (the server records its URL beside it)."""
    return lambda_auth(*arguments, "--jwks", str(server.key_file))


@pytest.mark.parametrize("command", ["serve", "invoke", "keys", "users", "token", "sessions", "logout", "outbox"])
def test_every_command_has_help(command: str) -> None:
    result = lambda_auth(command, "--help")
    assert result.returncode == 0 and result.stdout.startswith(f"usage: lambda-auth {command}")


def test_users_lists_the_running_servers_users_as_a_table(
    server: RunningServer, people: list[dict[str, Any]], tag: str
) -> None:
    result = on_server(server, "users", "--search", tag)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["id", "email", "name", "created", "(UTC)"]
    assert [row.split()[:3] for row in rows] == [[str(p["id"]), p["email"], p["name"]] for p in people]
    assert f"2 users whose email contains '{tag}' in the local server at {server.origin}" in result.stderr


def test_users_json_prints_the_four_profile_fields(
    server: RunningServer, people: list[dict[str, Any]], tag: str
) -> None:
    result = on_server(server, "users", "--search", tag.upper(), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == people


def test_users_stops_at_the_limit_and_says_there_may_be_more(
    server: RunningServer, people: list[dict[str, Any]], tag: str
) -> None:
    result = on_server(server, "users", "--search", tag, "--limit", "1", "--json")
    assert result.returncode == 0 and len(json.loads(result.stdout)) == 1
    assert "stopped at --limit 1" in result.stderr


def test_token_prints_a_token_that_me_accepts(server: RunningServer, people: list[dict[str, Any]]) -> None:
    ada = people[0]
    result = on_server(server, "token", "--email", f"  {ada['email'].upper()} ")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"  # stdout holds the token alone: TOKEN=$(lambda-auth token ...)
    assert f"a token for user {ada['id']} ({ada['email']})" in result.stderr
    me = call(f"{server.base_url}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and me.json() == ada


def test_token_by_id_carries_the_extras_and_lifetime_asked_for(
    server: RunningServer, people: list[dict[str, Any]]
) -> None:
    grace = people[1]
    result = on_server(server, "token", "--id", str(grace["id"]), "--extras", '{"role": "admin"}', "--ttl", "600")
    assert result.returncode == 0, result.stderr
    claims = tokens.verify(parse_key_set(server.key_file.read_text()), result.stdout.strip())
    assert claims.user_id == grace["id"] and claims.extras == {"role": "admin"}
    assert claims.expires_at - claims.issued_at == 600


def test_token_lasts_the_templates_token_lifetime_by_default(
    server: RunningServer, people: list[dict[str, Any]]
) -> None:
    result = on_server(server, "token", "--id", str(people[0]["id"]))
    claims = tokens.verify(parse_key_set(server.key_file.read_text()), result.stdout.strip())
    assert claims.expires_at - claims.issued_at == 86400


@pytest.mark.parametrize("who", [["--email", "nobody@example.com"], ["--id", str(2**52)]])
def test_a_token_for_an_unknown_user_is_a_one_line_error_with_status_1(server: RunningServer, who: list[str]) -> None:
    line = assert_one_line_error(on_server(server, "token", *who), 1)
    assert "no user" in line


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["token", "--id", "1", "--extras", "[1, 2]"], "--extras must be a JSON object"),
        (["token", "--id", "1", "--extras", "{nope"], "--extras is not JSON"),
        (["token", "--id", "0"], "not a positive number"),
        (["token", "--id", "1", "--ttl", "soon"], "not a whole number"),
        (["token", "--id", "1", "--email", "ada@example.com"], "not allowed with"),
        (["token"], "one of the arguments --email --id is required"),
        (["users", "--limit", "0"], "not a positive number"),
        (["users", "--stack", "a", "--jwks", "b"], "not allowed with"),
    ],
)
def test_a_bad_argument_is_a_one_line_usage_error_with_status_2(arguments: list[str], complaint: str) -> None:
    assert complaint in assert_one_line_error(lambda_auth(*arguments), 2)


def test_a_token_longer_than_the_api_accepts_is_a_usage_error(
    server: RunningServer, people: list[dict[str, Any]]
) -> None:
    extras = json.dumps({"padding": "x" * 4000})
    line = assert_one_line_error(on_server(server, "token", "--id", str(people[0]["id"]), "--extras", extras), 2)
    assert "4096" in line


def test_without_a_running_server_or_an_endpoint_the_commands_say_to_start_one(tmp_path: Path) -> None:
    for arguments in (["users"], ["token", "--id", "1"]):
        line = assert_one_line_error(lambda_auth(*arguments, "--jwks", str(tmp_path / "jwks.json")), 1)
        assert "no local server is running" in line and "make run" in line


def test_a_record_left_by_a_server_that_is_gone_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])  # noqa: S607 - a process that has ended: its pid runs nothing
    gone.wait()
    (tmp_path / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": gone.pid}))
    line = assert_one_line_error(lambda_auth("users", "--jwks", str(tmp_path / "jwks.json")), 1)
    assert "no local server is running" in line


def test_the_record_is_removed_when_the_server_stops(tmp_path: Path) -> None:
    from tests.e2e.conftest import start_server, stop_server

    running = start_server(tmp_path / "jwks.json")
    record = tmp_path / "server.json"
    assert json.loads(record.read_text())["url"] == running.origin
    assert stop_server(running) == 0
    assert not record.exists()


def test_a_second_sigterm_does_not_cut_the_shutdown_short(tmp_path: Path) -> None:
    from tests.e2e.conftest import STOP_TIMEOUT_SECONDS, start_server

    running = start_server(tmp_path / "jwks.json")
    running.process.terminate()
    # `make run` stopped with kill: make forwards the group's SIGTERM to the server once more,
    # while it shuts down.
    assert running.output.wait_for(lambda lines: "lambda-auth: stopped" in lines, STOP_TIMEOUT_SECONDS)
    if running.process.poll() is None:
        running.process.terminate()
    assert running.process.wait(timeout=STOP_TIMEOUT_SECONDS) == 0, running.output.text()
    assert not (tmp_path / "server.json").exists()


def put_user(client: Any, table: str, user_id: int, email: str, name: str) -> None:
    """A user as signup stores one: the profile item and the credentials item."""
    created = int(time.time() * 1000)
    client.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"user#{user_id}"},
            "id": {"N": str(user_id)},
            "email": {"S": email},
            "name": {"S": name},
            "created_at": {"N": str(created)},
        },
    )
    client.put_item(
        TableName=table,
        Item={"pk": {"S": f"email#{email}"}, "user_id": {"N": str(user_id)}, "password_hash": {"S": "unused"}},
    )


def test_with_a_dynamodb_endpoint_and_no_server_the_commands_read_its_table(stack: LocalStack, tmp_path: Path) -> None:
    local_aws.ensure_table(template.LOCAL_TABLE_NAME, stack.endpoint_url)
    client = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
    user_id = 1_000_000 + int(uuid.uuid4().int % 1_000_000)
    email = f"edsger.{uuid.uuid4().hex[:8]}@example.com"
    put_user(client, template.LOCAL_TABLE_NAME, user_id, email, "Edsger")
    key_file = tmp_path / "jwks.json"
    key_file.write_text(json.dumps({"keys": [new_key("endpoint")]}))
    endpoint = {"AWS_ENDPOINT_URL_DYNAMODB": stack.endpoint_url}

    listed = lambda_auth("users", "--search", email, "--json", "--jwks", str(key_file), **endpoint)
    assert listed.returncode == 0, listed.stderr
    assert [(user["id"], user["email"]) for user in json.loads(listed.stdout)] == [(user_id, email)]
    assert stack.endpoint_url in listed.stderr

    issued = lambda_auth("token", "--email", email, "--jwks", str(key_file), **endpoint)
    assert issued.returncode == 0, issued.stderr
    assert tokens.verify(parse_key_set(key_file.read_text()), issued.stdout.strip()).user_id == user_id
    assert os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") == stack.endpoint_url  # the session's, untouched
