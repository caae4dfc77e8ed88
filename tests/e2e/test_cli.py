"""The `lambda-auth` command as a user runs it: invoke each event file, help, one-line errors."""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.conftest import ROOT, LocalStack, reset_code_in
from tests.e2e.conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.e2e

lambda_auth = run_cli


@pytest.mark.parametrize(
    ("function", "event", "status"),
    [
        ("SignupFunction", "signup.json", 200),
        ("LoginFunction", "login.json", 403),  # a fresh store: nobody has signed up
        ("MeFunction", "me.json", 401),  # the authorizer's user 1 does not exist in a fresh store
    ],
)
def test_invoke_runs_an_event_file_and_prints_the_proxy_result_as_json(
    tmp_path: Path, function: str, event: str, status: int
) -> None:
    result = lambda_auth("invoke", function, "--event", f"events/{event}", "--jwks", str(tmp_path / "jwks.json"))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)  # stdout holds the result and nothing else
    assert answer["statusCode"] == status
    assert answer["headers"]["Content-Type"] == "application/json"
    body = json.loads(answer["body"])
    assert list(body) == ["authToken"] if status == 200 else body["code"].startswith("ERROR_CODE_")


def test_invoke_of_the_authorizer_with_the_placeholder_token_prints_its_deny_policy(tmp_path: Path) -> None:
    result = lambda_auth(
        "invoke", "AuthorizerFunction", "--event", "events/authorizer.json", "--jwks", str(tmp_path / "jwks.json")
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["principalId"] == "anonymous"
    assert [statement["Effect"] for statement in answer["policyDocument"]["Statement"]] == ["Deny"]


def test_invoke_uses_the_endpoint_in_aws_endpoint_url_dynamodb_and_creates_the_table(
    tmp_path: Path, stack: LocalStack
) -> None:
    result = lambda_auth(
        "invoke",
        "SignupFunction",
        "--event",
        "events/signup.json",
        "--jwks",
        str(tmp_path / "jwks.json"),
        AWS_ENDPOINT_URL_DYNAMODB=stack.endpoint_url,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["statusCode"] == 200
    client = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
    assert "lambda-auth" in client.list_tables()["TableNames"]


def test_the_key_file_is_created_once_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "jwks.json"
    contents = []
    for _ in range(2):
        result = lambda_auth("invoke", "LoginFunction", "--event", "events/login.json", "--jwks", str(key_file))
        assert result.returncode == 0, result.stderr
        contents.append(key_file.read_text())
    assert contents[0] == contents[1]
    assert len(json.loads(contents[0])["keys"]) == 1


@pytest.mark.parametrize("arguments", [["--help"], ["serve", "--help"], ["invoke", "--help"], ["sam-local", "--help"]])
def test_every_command_has_help(arguments: list[str]) -> None:
    result = lambda_auth(*arguments)
    assert result.returncode == 0 and result.stdout.startswith("usage: lambda-auth")


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something listens on for the block."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with held_port() as port:
        result = lambda_auth("serve", "--port", str(port), "--jwks", str(tmp_path / "jwks.json"))
    line = assert_one_line_error(result, 1)
    assert f"port {port}" in line and "in use" in line
    assert not (tmp_path / "jwks.json").exists()  # it failed before setting anything up


def test_sam_local_on_a_port_in_use_is_a_one_line_error_before_docker_starts(tmp_path: Path) -> None:
    with held_port() as port:
        result = lambda_auth("sam-local", "--port", str(port), "--state-dir", str(tmp_path / "state"))
    line = assert_one_line_error(result, 1)
    assert f"port {port}" in line and "in use" in line
    assert not (tmp_path / "state").exists()  # no dockerd log, no files: it stopped first


def test_invoke_of_an_unknown_function_is_a_usage_error_naming_the_functions() -> None:
    line = assert_one_line_error(lambda_auth("invoke", "NoSuchFunction", "--event", "events/me.json"), 2)
    assert "SignupFunction" in line


@pytest.mark.parametrize("content", [None, "{not json"])
def test_an_unreadable_event_file_is_a_usage_error(tmp_path: Path, content: str | None) -> None:
    event = tmp_path / "event.json"
    if content is not None:
        event.write_text(content)
    assert_one_line_error(lambda_auth("invoke", "MeFunction", "--event", str(event)), 2)


def test_a_key_file_that_is_not_a_jwk_set_is_a_one_line_error(tmp_path: Path) -> None:
    key_file = tmp_path / "jwks.json"
    key_file.write_text('{"keys": []}')
    line = assert_one_line_error(
        lambda_auth("invoke", "MeFunction", "--event", "events/me.json", "--jwks", str(key_file)), 1
    )
    assert str(key_file) in line


def test_an_unreachable_dynamodb_endpoint_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    result = lambda_auth(
        "invoke",
        "MeFunction",
        "--event",
        "events/me.json",
        "--jwks",
        str(tmp_path / "jwks.json"),
        AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{free_port}",
    )
    assert "cannot reach DynamoDB" in assert_one_line_error(result, 1)


def _event_file(tmp_path: Path, name: str, body: dict[str, str]) -> str:
    """events/NAME.json with another body, written to tmp_path."""
    document = json.loads((ROOT / "events" / f"{name}.json").read_text())
    document["body"] = json.dumps(body)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_invoke_of_a_reset_request_runs_the_mailer_it_hands_the_email_to(tmp_path: Path, stack: LocalStack) -> None:
    email = f"reset-{uuid.uuid4().hex[:8]}@example.com"
    jwks, dynamodb = str(tmp_path / "jwks.json"), {"AWS_ENDPOINT_URL_DYNAMODB": stack.endpoint_url}

    def invoke(function: str, event: str, body: dict[str, str]) -> dict[str, object]:
        result = lambda_auth(
            "invoke", function, "--event", _event_file(tmp_path, event, body), "--jwks", jwks, **dynamodb
        )
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    assert (
        invoke("SignupFunction", "signup", {"name": "Ada", "email": email, "password": "analytical1"})["statusCode"]
        == 200
    )
    assert invoke("PasswordResetFunction", "password_reset", {"email": email}) == {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
        "body": "{}",
    }
    (mail,) = [json.loads(line) for line in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    assert mail["to"] == email
    body = {"email": email, "code": reset_code_in(mail["text"]), "new_password": "a new engine 2"}
    confirmed = invoke("PasswordResetConfirmFunction", "password_reset_confirm", body)
    assert confirmed["statusCode"] == 200 and list(json.loads(str(confirmed["body"]))) == ["authToken"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("NoSuchParameter=1", "template.yaml has no parameter NoSuchParameter"),
        ("SignupMaxPerIp=0", "parameter SignupMaxPerIp is from 1 to"),
        ("SignupMaxPerIp=many", "parameter SignupMaxPerIp is a number, not 'many'"),
        ("SignupMaxPerIp", "'SignupMaxPerIp' is not Name=Value"),
    ],
)
def test_a_bad_parameter_override_is_a_usage_error(override: str, message: str) -> None:
    result = lambda_auth("invoke", "SignupFunction", "--event", "events/signup.json", "--parameter-overrides", override)
    assert message in assert_one_line_error(result, 2, stdout_empty=True)


def test_invoke_of_a_function_that_raises_prints_lambdas_error_object_and_exits_1(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('["not", "an", "object"]')  # the mailer reads an object's "email" and "request_id"
    result = lambda_auth(
        "invoke", "PasswordResetMailerFunction", "--event", str(event), "--jwks", str(tmp_path / "jwks.json")
    )
    line = assert_one_line_error(result, 1)
    refused = "the mailer's event is not a JSON object"
    assert line == f"lambda-auth: PasswordResetMailerFunction raised HandOverError: {refused}"
    error = json.loads(result.stdout)
    assert (error["errorType"], error["errorMessage"]) == ("HandOverError", refused)
    assert error["requestId"].startswith("local-")
    assert any("reset_mail.py" in frame and "send_code" in frame for frame in error["stackTrace"])
