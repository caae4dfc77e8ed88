"""`lambda-auth keys`: list, rotate and prune the token keys, locally or in a stack's secret."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import boto3
import pytest

from lambda_auth.keys import new_key, parse_key_set
from lambda_auth_cli import key_rotation
from lambda_auth_cli.console import CliError
from lambda_auth_cli.main import main
from lambda_auth_cli.stacks import Stack
from tests.conftest import LocalStack

DAY = 86400


def key_file(tmp_path: Path, *keys: dict[str, object]) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": list(keys)}))
    return path


def test_rotate_adds_a_current_key_to_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = key_file(tmp_path, new_key("initial"))
    assert main(["keys", "rotate", "--jwks", str(path)]) == 0
    keys = parse_key_set(path.read_text())
    (first, added) = keys.by_kid
    assert first == "initial" and keys.issuing_kid() == "initial"
    assert keys.issuing_kid(time.time() + key_rotation.ACTIVATION_SECONDS) == added
    assert f"added key {added}" in capsys.readouterr().out


def test_prune_removes_only_keys_whose_tokens_have_all_expired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_ago = int(time.time()) - 3 * DAY
    recent = int(time.time()) - 60
    path = key_file(
        tmp_path,
        new_key("first"),
        {**new_key("second"), "created_at": long_ago},
        {**new_key("third"), "created_at": recent},
    )
    assert main(["keys", "prune", "--jwks", str(path), "--token-ttl", str(DAY)]) == 0
    assert list(parse_key_set(path.read_text()).by_kid) == ["second", "third"]
    assert "pruned from" in capsys.readouterr().out


def test_prune_never_assumes_tokens_shorter_than_the_configured_lifetime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The template's TokenTtlSeconds is a day: a key retired two hours ago may have tokens for 22 more hours.
    retired = int(time.time()) - 2 * 3600
    path = key_file(tmp_path, new_key("first"), {**new_key("second"), "created_at": retired, "issues_from": retired})
    assert main(["keys", "prune", "--jwks", str(path), "--token-ttl", "3600"]) == 0
    assert list(parse_key_set(path.read_text()).by_kid) == ["first", "second"]
    assert "none: every key may still have live tokens" in capsys.readouterr().out


def test_listing_never_prints_a_keys_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = new_key("initial")
    path = key_file(tmp_path, key)
    for action in ("list", "rotate", "prune"):
        assert main(["keys", action, "--jwks", str(path)]) == 0
    output = capsys.readouterr()
    secrets = [entry["k"] for entry in json.loads(path.read_text())["keys"]]
    assert key["k"] in secrets
    for secret in secrets:
        assert secret not in output.out + output.err


def test_a_missing_key_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "rotate", "--jwks", str(tmp_path / "nope.json")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no key file" in error


def test_rotate_and_prune_the_secret_of_a_deployed_stack(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint_url)  # every AWS client of the command
    secrets = boto3.client("secretsmanager")
    name = f"auth-{uuid.uuid4().hex[:8]}"
    arn = secrets.create_secret(Name=name, SecretString=json.dumps(new_key("initial")))["ARN"]
    template = {
        "Parameters": {"TokenTtlSeconds": {"Type": "Number", "Default": 86400}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TokenKeysSecretArn": {"Value": arn}},
    }
    boto3.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "TokenTtlSeconds", "ParameterValue": "3600"}],
    )
    assert main(["keys", "rotate", "--stack", name]) == 0
    # AWSCURRENT, as Secrets Manager reads by default (moto's default does not follow a moved stage).
    stored = parse_key_set(secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
    assert next(iter(stored.by_kid)) == "initial" and len(stored.by_kid) == 2
    assert main(["keys", "prune", "--stack", name]) == 0
    assert "none: every key may still have live tokens" in capsys.readouterr().out


def test_an_unknown_stack_is_a_one_line_error(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint_url)
    assert main(["keys", "list", "--stack", "nowhere"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error


def test_rotation_on_the_stacks_secret_turns_the_first_bare_key_into_a_set(stack: LocalStack) -> None:
    client = boto3.client("secretsmanager", endpoint_url=stack.endpoint_url)
    # The stack's first secret: one bare oct JWK, as GenerateSecretString makes it.
    first = new_key("initial")
    arn = client.create_secret(Name=f"keys-{uuid.uuid4().hex}", SecretString=json.dumps(first))["ARN"]
    secret = key_rotation.KeySecret(arn, client)
    document, version = secret.read()
    rotated, kid = key_rotation.rotate(document)
    secret.write(rotated, version)
    stored = json.loads(client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
    assert [key["kid"] for key in stored["keys"]] == ["initial", kid]
    assert stored["keys"][0]["k"] == first["k"]


def test_the_secret_is_found_from_the_stacks_outputs(stack: LocalStack) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lambda-auth-keys-AbCdEf"
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TokenKeysSecretArn": {"Value": arn}},
    }
    cloudformation = boto3.client("cloudformation", endpoint_url=stack.endpoint_url)
    name = f"auth-{uuid.uuid4().hex[:8]}"
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    assert Stack.describe(name, cloudformation).output("TokenKeysSecretArn") == arn
    with pytest.raises(LookupError):
        Stack.describe(name, cloudformation).output("NoSuchOutput")


def test_of_two_rotations_of_the_stacks_secret_at_once_the_second_is_refused(stack: LocalStack) -> None:
    client = boto3.client("secretsmanager", endpoint_url=stack.endpoint_url)
    arn = client.create_secret(Name=f"keys-{uuid.uuid4().hex}", SecretString=json.dumps(new_key("initial")))["ARN"]
    secret = key_rotation.KeySecret(arn, client)
    (first, first_version), (second, second_version) = secret.read(), secret.read()
    winner, winner_kid = key_rotation.rotate(first)
    secret.write(winner, first_version)
    with pytest.raises(CliError, match="changed since it was read"):
        secret.write(key_rotation.rotate(second, now=time.time() + 1)[0], second_version)
    stored = json.loads(client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
    assert [key["kid"] for key in stored["keys"]] == ["initial", winner_kid]
    assert secret.read()[0] == stored
