"""`lambda-auth sessions`, `lambda-auth logout` and `lambda-auth outbox` as a user runs them,
against a running local server: the sessions its users' tokens belong to, ended from the
terminal and refused by the API at once, and the mail its functions sent."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_auth import tokens
from lambda_auth.keys import parse_key_set
from tests.e2e.conftest import (
    GENEROUS_LIMITS,
    RunningServer,
    assert_one_line_error,
    call,
    own_server,
    run_cli,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.e2e

PASSWORD = "analytical1"
MAIL_WAIT_SECONDS = 20.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of this module's own: its outbox holds only this module's mail."""
    with own_server(tmp_path_factory, "commands", *GENEROUS_LIMITS) as running:
        yield running


def on_server(server: RunningServer, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The command, pointed at the module's server by its key file."""
    return run_cli(*arguments, "--jwks", str(server.key_file))


def email_address(prefix: str = "noor") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def signed_in_twice(server: RunningServer) -> tuple[str, dict[str, str]]:
    """A new user with two sessions (signup's and a login's): their email, and each session's token by its id."""
    email = email_address()
    signup = call(f"{server.base_url}/auth/signup", "POST", {"name": "Noor", "email": email, "password": PASSWORD})
    login = call(f"{server.base_url}/auth/login", "POST", {"email": email, "password": PASSWORD})
    assert signup.status == login.status == 200
    keys = parse_key_set(server.key_file.read_text())
    by_session = {}
    for reply in (signup, login):
        token = reply.json()["authToken"]
        session_id = tokens.verify(keys, token).session_id
        assert session_id is not None
        by_session[session_id] = token
    return email, by_session


def me_status(server: RunningServer, token: str) -> int:
    return call(f"{server.base_url}/auth/me", headers={"Authorization": f"Bearer {token}"}).status


def listed(server: RunningServer, email: str) -> list[dict[str, Any]]:
    result = on_server(server, "sessions", "--email", email, "--json")
    assert result.returncode == 0, result.stderr
    sessions: list[dict[str, Any]] = json.loads(result.stdout)
    return sessions


def mail_to(server: RunningServer, email: str) -> dict[str, str]:
    """The newest message to `email` in the server's outbox (the mailer runs after the request is answered)."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while time.monotonic() < deadline:
        messages = call(f"{server.origin}/_local/outbox?limit=1000").json()["messages"]
        mine: list[dict[str, str]] = [message for message in messages if message["to"] == email]
        if mine:
            return mine[0]
        time.sleep(0.05)
    pytest.fail(f"no mail to {email} within {MAIL_WAIT_SECONDS} s")


def reset_requested(server: RunningServer, email: str) -> dict[str, str]:
    """Ask for a reset for `email` (who has an account) and return the mail that brings its code."""
    reply = call(f"{server.base_url}/auth/password-reset", "POST", {"email": email})
    assert reply.status == 200
    return mail_to(server, email)


# sessions


def test_sessions_lists_the_users_live_sessions_those_their_tokens_name(server: RunningServer) -> None:
    email, by_session = signed_in_twice(server)
    sessions = listed(server, email)
    assert {session["id"] for session in sessions} == set(by_session)
    assert [session["created_at"] for session in sessions] == sorted(
        (session["created_at"] for session in sessions), reverse=True
    )
    for session in sessions:
        assert set(session) == {"id", "user_id", "created_at", "expires_at"}
        assert session["expires_at"] - session["created_at"] == 86400  # the template's TokenTtlSeconds


def test_sessions_prints_a_table_and_says_whose_they_are_and_where(server: RunningServer) -> None:
    email, by_session = signed_in_twice(server)
    result = on_server(server, "sessions", "--email", f" {email.upper()} ")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["id", "created", "(UTC)", "expires", "(UTC)"]
    assert {row.split()[0] for row in rows} == set(by_session)
    user_id = listed(server, email)[0]["user_id"]
    assert f"2 live sessions of user {user_id} ({email}) in the local server at {server.origin}" in result.stderr
    for token in by_session.values():
        assert token not in result.stdout + result.stderr


def test_sessions_finds_a_user_by_id_too(server: RunningServer) -> None:
    email, by_session = signed_in_twice(server)
    user_id = listed(server, email)[0]["user_id"]
    result = on_server(server, "sessions", "--id", str(user_id), "--json")
    assert result.returncode == 0 and {session["id"] for session in json.loads(result.stdout)} == set(by_session)


# logout


def test_logout_ends_the_newest_session_whose_token_is_then_refused(server: RunningServer) -> None:
    email, by_session = signed_in_twice(server)
    newest, older = (session["id"] for session in listed(server, email))
    result = on_server(server, "logout", "--email", email)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[0] == "id" and [row.split()[0] for row in rows] == [newest]
    assert "ended the newest session of user" in result.stderr and "refused from now on" in result.stderr
    assert me_status(server, by_session[newest]) == 401
    assert me_status(server, by_session[older]) == 200
    assert [session["id"] for session in listed(server, email)] == [older]


def test_logout_all_ends_every_session_and_prints_them(server: RunningServer) -> None:
    email, by_session = signed_in_twice(server)
    result = on_server(server, "logout", "--email", email, "--all")
    assert result.returncode == 0, result.stderr
    assert {row.split()[0] for row in result.stdout.splitlines()[1:]} == set(by_session)
    assert "ended all sessions of user" in result.stderr and "(2 live)" in result.stderr
    assert [me_status(server, token) for token in by_session.values()] == [401, 401]
    assert listed(server, email) == []
    login = call(f"{server.base_url}/auth/login", "POST", {"email": email, "password": PASSWORD})
    assert me_status(server, login.json()["authToken"]) == 200  # a new sign-in still works


@pytest.mark.parametrize("everything", [[], ["--all"]])
def test_logout_of_a_user_without_live_sessions_is_a_one_line_error_with_status_1(
    server: RunningServer, everything: list[str]
) -> None:
    email, _ = signed_in_twice(server)
    assert on_server(server, "logout", "--email", email, "--all").returncode == 0
    line = assert_one_line_error(on_server(server, "logout", "--email", email, *everything), 1, stdout_empty=True)
    assert line.endswith(f"({email}) has no live sessions in the local server at {server.origin}")


@pytest.mark.parametrize("command", [["sessions"], ["logout"], ["logout", "--all"]])
def test_sessions_and_logout_of_an_unknown_user_are_one_line_errors_with_status_1(
    server: RunningServer, command: list[str]
) -> None:
    email = email_address("nobody")
    line = assert_one_line_error(on_server(server, *command, "--email", email), 1, stdout_empty=True)
    assert line == f"lambda-auth: no user with email {email} in the local server at {server.origin}"


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["sessions"], "one of the arguments --email --id is required"),
        (["logout", "--all"], "one of the arguments --email --id is required"),
        (["logout", "--id", "1", "--email", "ada@example.com"], "not allowed with"),
        (["sessions", "--id", "0"], "not a positive number"),
        (["sessions", "--id", "1", "--stack", "a", "--jwks", "b"], "not allowed with"),
        (["outbox", "--stack", "a"], "unrecognized arguments: --stack a"),
    ],
)
def test_a_bad_argument_is_a_one_line_usage_error_with_status_2(arguments: list[str], complaint: str) -> None:
    assert complaint in assert_one_line_error(run_cli(*arguments), 2, stdout_empty=True)


@pytest.mark.parametrize("command", [["sessions", "--id", "1"], ["logout", "--id", "1"]])
def test_without_a_running_server_they_say_to_start_one(tmp_path: Path, command: list[str]) -> None:
    line = assert_one_line_error(run_cli(*command, "--jwks", str(tmp_path / "jwks.json")), 1, stdout_empty=True)
    assert "no local server is running" in line and "make run" in line


# outbox


def test_outbox_prints_the_mail_newest_first_with_its_code(server: RunningServer) -> None:
    first, second = email_address("first"), email_address("second")
    for email in (first, second):
        reply = call(f"{server.base_url}/auth/signup", "POST", {"email": email, "password": PASSWORD})
        assert reply.status == 200
    older, newer = reset_requested(server, first), reset_requested(server, second)

    as_json = on_server(server, "outbox", "--json")
    assert as_json.returncode == 0, as_json.stderr
    messages = json.loads(as_json.stdout)
    assert all(list(message) == ["to", "subject", "text", "sent_at"] for message in messages)
    assert messages.index(newer) < messages.index(older)
    assert "Your password reset code is " in newer["text"]

    as_text = on_server(server, "outbox")
    assert as_text.returncode == 0, as_text.stderr
    assert f"{newer['sent_at']}  to {second}  Your password reset code" in as_text.stdout
    assert as_text.stdout.index(second) < as_text.stdout.index(first)
    code_line = newer["text"].splitlines()[0]
    assert f"    {code_line}\n" in as_text.stdout  # the text, indented under its heading
    outbox = server.key_file.parent / "outbox.jsonl"
    assert f"{len(messages)} messages in {outbox}, newest first" in as_text.stderr


def test_outbox_holds_only_what_was_mailed_since_the_server_started(tmp_path: Path) -> None:
    (tmp_path / "outbox.jsonl").write_text(
        json.dumps({"to": "x@example.com", "subject": "old", "text": "", "sent_at": ""})
    )
    running = start_server(tmp_path / "jwks.json")
    try:
        as_json = run_cli("outbox", "--json", "--jwks", str(tmp_path / "jwks.json"))
        assert (as_json.returncode, as_json.stdout) == (0, "[]\n")
        as_text = run_cli("outbox", "--jwks", str(tmp_path / "jwks.json"))
        assert (as_text.returncode, as_text.stdout) == (0, "")
        assert as_text.stderr == f"lambda-auth: no mail: the outbox {tmp_path / 'outbox.jsonl'} is empty" + (
            " (the local server empties it when it starts)\n"
        )
    finally:
        assert stop_server(running) == 0


def test_outbox_without_an_outbox_file_says_there_is_no_mail(tmp_path: Path) -> None:
    as_json = run_cli("outbox", "--json", "--jwks", str(tmp_path / "jwks.json"))
    assert (as_json.returncode, as_json.stdout) == (0, "[]\n")
    assert as_json.stderr.startswith(f"lambda-auth: no mail: no outbox at {tmp_path / 'outbox.jsonl'}")
    assert as_json.stderr.count("\n") == 1


def test_outbox_leaves_out_lines_that_are_not_messages_and_says_so(tmp_path: Path) -> None:
    message = {
        "to": "ada@example.com",
        "subject": "Hello",
        "text": "Line one\n\nLine three\n",
        "sent_at": "2026-01-02T03:04:05Z",
    }
    lines = [json.dumps(message), "{not json", json.dumps({"to": "ada@example.com"}), json.dumps([1])]
    (tmp_path / "outbox.jsonl").write_text("\n".join(lines) + "\n")
    result = run_cli("outbox", "--jwks", str(tmp_path / "jwks.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2026-01-02T03:04:05Z  to ada@example.com  Hello\n    Line one\n\n    Line three\n\n"
    assert result.stderr.splitlines() == [
        f"lambda-auth: 1 message in {tmp_path / 'outbox.jsonl'}, newest first",
        f"lambda-auth: 3 lines are not messages in {tmp_path / 'outbox.jsonl'}: left out",
    ]


def test_outbox_reads_a_sam_local_runs_outbox_with_sam_local(tmp_path: Path) -> None:
    message = {"to": "ada@example.com", "subject": "Your password reset code", "text": "12345678", "sent_at": "x"}
    (tmp_path / "outbox.jsonl").write_text(json.dumps(message) + "\n")
    as_json = run_cli("outbox", "--json", "--sam-local", str(tmp_path))
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [message]
    missing = run_cli("outbox", "--sam-local", str(tmp_path / "nowhere"))
    assert missing.returncode == 0 and "`lambda-auth sam-local` makes it" in missing.stderr
