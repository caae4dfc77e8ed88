"""The admin commands with `--stack NAME` (`users`, `token`, `sessions`, `logout`): a deployed stack's
table and key secret, found from its outputs (moto's CloudFormation, Secrets Manager and DynamoDB,
on loopback)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import boto3
import pytest

from lambda_auth import tokens
from lambda_auth.keys import new_key, parse_key_set
from lambda_auth.store import sessions, users
from lambda_auth_cli.main import main
from tests.conftest import LocalStack


@pytest.fixture
def deployed(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A stack whose outputs name the session's table and a fresh key secret; its name and the secret's ARN."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint_url)  # every AWS client of the command
    name = f"auth-{uuid.uuid4().hex[:8]}"
    arn = boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(new_key("first")))["ARN"]
    template = {
        "Parameters": {
            "TokenTtlSeconds": {"Type": "Number", "Default": 86400},
            "SessionCheckSeconds": {"Type": "Number", "Default": 10},
        },
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"UsersTableName": {"Value": stack.table_name}, "TokenKeysSecretArn": {"Value": arn}},
    }
    boto3.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": "TokenTtlSeconds", "ParameterValue": "3600"},
            {"ParameterKey": "SessionCheckSeconds", "ParameterValue": "5"},
        ],
    )
    yield name, arn


def signed_up(name: str) -> users.User:
    email = f"{name.lower()}.{uuid.uuid4().hex[:10]}@example.com"
    return users.create_user(email, name, "unused-hash", int(time.time() * 1000))


def test_users_lists_the_stacks_table(
    deployed: tuple[str, str], stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    ada = signed_up("Ada")
    assert main(["users", "--stack", deployed[0], "--search", ada.email, "--json"]) == 0
    output = capsys.readouterr()
    assert json.loads(output.out) == [{"id": ada.id, "email": ada.email, "name": "Ada", "created_at": ada.created_at}]
    assert f"in table {stack.table_name} of stack {deployed[0]}" in output.err


def test_a_long_scan_shows_its_progress_on_stderr(
    deployed: tuple[str, str], stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_up("Grace")
    monkeypatch.setattr(users, "SCAN_PAGE_SIZE", 1)
    assert main(["users", "--stack", deployed[0], "--search", f"nobody.{uuid.uuid4().hex}"]) == 0
    errors = capsys.readouterr().err.splitlines()
    progress = [line for line in errors if line.startswith("lambda-auth: scanned ")]
    assert len(progress) > 1 and progress[-1].endswith(" items...")
    assert errors[-1].startswith("lambda-auth: 0 users whose email contains")


def test_token_is_issued_with_the_secrets_current_key_for_the_stacks_token_lifetime(
    deployed: tuple[str, str], stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    name, arn = deployed
    edsger = signed_up("Edsger")
    assert main(["token", "--stack", name, "--email", edsger.email, "--extras", '{"tier": 2}']) == 0
    token = capsys.readouterr().out.strip()
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    claims = tokens.verify(parse_key_set(secret), token)
    assert claims.user_id == edsger.id and claims.extras == {"tier": 2}
    assert claims.expires_at - claims.issued_at == 3600  # the stack's TokenTtlSeconds, not the template's default


def test_a_token_for_a_user_the_stack_does_not_have_is_a_one_line_error(
    deployed: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--stack", deployed[0], "--id", str(2**52)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith(f"lambda-auth: no user {2**52} in table")


@pytest.mark.parametrize(
    "command", [["users"], ["token", "--id", "1"], ["sessions", "--id", "1"], ["logout", "--id", "1", "--all"]]
)
def test_an_unknown_stack_is_a_one_line_error(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint_url)
    assert main([*command, "--stack", "nowhere"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "nowhere" in error and "Traceback" not in error


def test_a_token_may_not_outlive_the_stacks_token_lifetime(
    deployed: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # No token outlives TokenTtlSeconds (3600 here), so `keys prune` can trust it.
    edsger = signed_up("Edsger")
    assert main(["token", "--stack", deployed[0], "--id", str(edsger.id), "--ttl", "3601"]) == 2
    assert "1 to 3600 seconds" in capsys.readouterr().err


def with_sessions(name: str) -> tuple[users.User, list[sessions.Session]]:
    """A user with three live sessions begun at different times and one expired; the live ones, newest first."""
    user = signed_up(name)
    now = int(time.time())
    live = [sessions.Session(sessions.new_id(), user.id, now - age, now - age + 3600) for age in (60, 600, 1200)]
    for session in live:
        sessions.start(user.id, session.id, session.created_at, session.expires_at)
    # Last, so that no later start forgets it: the store drops expired sessions when one begins.
    sessions.start(user.id, sessions.new_id(), now - 7200, now - 3600)
    return user, live


def test_sessions_lists_the_live_sessions_newest_first_and_counts_the_expired(
    deployed: tuple[str, str], stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    ada, live = with_sessions("Ada")
    assert main(["sessions", "--stack", deployed[0], "--email", ada.email, "--json"]) == 0
    output = capsys.readouterr()
    assert json.loads(output.out) == [
        {"id": s.id, "user_id": ada.id, "created_at": s.created_at, "expires_at": s.expires_at} for s in live
    ]
    assert output.err == (
        f"lambda-auth: 3 live sessions of user {ada.id} ({ada.email}) in table {stack.table_name} of stack"
        f" {deployed[0]}; 1 expired, not shown\n"
    )


def test_logout_ends_the_newest_live_session_and_says_when_authorizers_refuse_it(
    deployed: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    grace, live = with_sessions("Grace")
    assert main(["logout", "--stack", deployed[0], "--id", str(grace.id)]) == 0
    output = capsys.readouterr()
    assert [line.split()[0] for line in output.out.splitlines()] == ["id", live[0].id]
    assert output.err.endswith(
        "its tokens are refused by every authorizer within 5 s (the stack's SessionCheckSeconds)\n"
    )
    assert [session.id for session in sessions.of(grace.id) if session.expires_at > time.time()] == [
        session.id for session in live[1:]
    ]


def test_logout_all_ends_every_session_of_the_user(
    deployed: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    edsger, live = with_sessions("Edsger")
    assert main(["logout", "--stack", deployed[0], "--email", edsger.email, "--all"]) == 0
    output = capsys.readouterr()
    assert [line.split()[0] for line in output.out.splitlines()[1:]] == [session.id for session in live]
    assert "(3 live)" in output.err
    assert sessions.of(edsger.id) == []


def test_logout_of_a_user_with_only_expired_sessions_is_a_one_line_error(
    deployed: tuple[str, str], stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    barbara = signed_up("Barbara")
    now = int(time.time())
    sessions.start(barbara.id, sessions.new_id(), now - 7200, now - 3600)
    assert main(["logout", "--stack", deployed[0], "--id", str(barbara.id)]) == 1
    output = capsys.readouterr()
    assert output.out == ""
    assert output.err == (
        f"lambda-auth: user {barbara.id} ({barbara.email}) has no live sessions in table"
        f" {stack.table_name} of stack {deployed[0]}\n"
    )
    assert len(sessions.of(barbara.id)) == 1  # nothing was written


@pytest.mark.parametrize("command", [["sessions"], ["logout"]])
def test_sessions_and_logout_of_a_user_the_stack_does_not_have_are_one_line_errors(
    deployed: tuple[str, str], capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    assert main([*command, "--stack", deployed[0], "--email", "nobody@example.com"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("lambda-auth: no user with email nobody@example.com in table")
