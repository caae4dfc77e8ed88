"""`lambda-auth users` and `lambda-auth token --stack NAME`: a deployed stack's table and key secret,
found from its outputs (moto's CloudFormation, Secrets Manager and DynamoDB, on loopback)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import boto3
import pytest

from lambda_auth import tokens
from lambda_auth.keys import new_key, parse_key_set
from lambda_auth.store import users
from lambda_auth_cli.main import main
from tests.conftest import LocalStack


@pytest.fixture
def deployed(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A stack whose outputs name the session's table and a fresh key secret; its name and the secret's ARN."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint_url)  # every AWS client of the command
    name = f"auth-{uuid.uuid4().hex[:8]}"
    arn = boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(new_key("first")))["ARN"]
    template = {
        "Parameters": {"TokenTtlSeconds": {"Type": "Number", "Default": 86400}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"UsersTableName": {"Value": stack.table_name}, "TokenKeysSecretArn": {"Value": arn}},
    }
    boto3.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "TokenTtlSeconds", "ParameterValue": "3600"}],
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


@pytest.mark.parametrize("command", [["users"], ["token", "--id", "1"]])
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
