"""The built artifact, as Lambda runs it: `sam build`'s output for this machine's architecture
(`make artifact`), each function's handler imported in a fresh python3.13 whose path holds
the function's folder, the layer and the standard library, nothing of the development
environment, and each answering its events/ file against moto, configured as deployed
(keys from Secrets Manager). A missing runtime dependency, a dev-only import
or a layer path mistake fails here instead of in a deploy."""

from __future__ import annotations

import copy
import email.parser
import json
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_auth.keys import new_key
from lambda_auth_cli import local_aws
from lambda_auth_cli.artifact import Artifact
from tests.conftest import EVENTS, ROOT, LocalStack, reset_code_in

LOCK = ROOT / "layers" / "auth" / "requirements.txt"
REGION = "us-east-1"
FUNCTIONS = {
    "SignupFunction",
    "LoginFunction",
    "MeFunction",
    "AuthorizerFunction",
    "LogoutFunction",
    "PasswordChangeFunction",
    "PasswordResetFunction",
    "PasswordResetMailerFunction",
    "PasswordResetConfirmFunction",
}
SENDER = "no-reply@example.com"


@pytest.fixture(scope="module")
def artifact() -> Artifact:
    """The build for this machine, made or brought up to date by `make artifact` (a no-op when current)."""
    build = subprocess.run(
        ["make", "--no-print-directory", "artifact"],  # noqa: S607 - make from PATH, as `make test` runs
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        pytest.fail(f"make artifact failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}")
    return Artifact.native()


@dataclass
class Deployment:
    """What the functions see in AWS, with moto standing in: their environment."""

    env: dict[str, str]
    workdir: Path

    def invoke(self, artifact: Artifact, logical_id: str, event: dict[str, Any]) -> Any:
        env = {**self.env, **artifact.lambda_variables(logical_id)}
        return artifact.invoke(logical_id, event, env, self.workdir)


@pytest.fixture(scope="module")
def deployment(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """A table of its own and the token keys in a secret, on the session's moto server."""
    table = f"lambda-auth-artifact-{uuid.uuid4().hex[:8]}"
    local_aws.ensure_table(table)
    secret = boto3.client("secretsmanager", endpoint_url=stack.endpoint_url, region_name=REGION).create_secret(
        Name=table, SecretString=json.dumps({"keys": [new_key("artifact")]})
    )
    env = {
        # The embedded moto answers only its run's key, which the session's environment holds.
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_DYNAMODB": stack.endpoint_url,
        "AWS_ENDPOINT_URL_SECRETSMANAGER": stack.endpoint_url,
        "AUTH_TABLE_NAME": table,
        "AUTH_JWKS_SECRET_ARN": secret["ARN"],
        "POWERTOOLS_SERVICE_NAME": "lambda-auth",
        "POWERTOOLS_METRICS_NAMESPACE": "LambdaAuthTest",
        "POWERTOOLS_LOGGER_LOG_EVENT": "false",
    }
    return Deployment(env, tmp_path_factory.mktemp("artifact"))


def event(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return document


def answered(answer: Any) -> Any:
    """A handler's answer, or the test's failure with the error the handler raised instead."""
    if isinstance(answer, dict) and "errorType" in answer:
        pytest.fail(f"the handler raised {answer['errorType']}: {answer['errorMessage']}")
    return answer


@dataclass(frozen=True)
class Flow:
    """The answers of one user's way through the API, each from a cold start of the artifact."""

    signup: dict[str, Any]
    login: dict[str, Any]
    placeholder_refused: dict[str, Any]
    allowed: dict[str, Any]
    me: dict[str, Any]


@pytest.fixture(scope="module")
def flow(artifact: Artifact, deployment: Deployment) -> Flow:
    """events/signup.json, events/login.json, the authorizer with events/authorizer.json's placeholder
    token and then with the login's token, and events/me.json as API Gateway passes it on."""
    signup = answered(deployment.invoke(artifact, "SignupFunction", event("signup")))
    login = answered(deployment.invoke(artifact, "LoginFunction", event("login")))
    placeholder_refused = deployment.invoke(artifact, "AuthorizerFunction", event("authorizer"))
    with_token = copy.deepcopy(event("authorizer"))
    with_token["headers"]["Authorization"] = f"Bearer {json.loads(login['body'])['authToken']}"
    allowed = answered(deployment.invoke(artifact, "AuthorizerFunction", with_token))
    me_event = event("me")
    me_event["requestContext"]["authorizer"] = {"principalId": allowed["principalId"], **allowed["context"]}
    me = answered(deployment.invoke(artifact, "MeFunction", me_event))
    return Flow(signup, login, placeholder_refused, allowed, me)


def test_signup_and_login_from_the_artifact_answer_tokens(flow: Flow) -> None:
    for answer in (flow.signup, flow.login):
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"])["authToken"].count(".") == 4  # compact JWE: five parts


DENIED = {
    "principalId": "anonymous",
    "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": event("authorizer")["methodArn"]}],
    },
}


def test_the_authorizer_from_the_artifact_refuses_a_bad_token_and_allows_a_good_one(flow: Flow) -> None:
    assert flow.placeholder_refused == DENIED
    (statement,) = flow.allowed["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert flow.allowed["principalId"] == str(flow.allowed["context"]["userId"])


def test_me_from_the_artifact_answers_the_signed_up_user(flow: Flow) -> None:
    assert flow.me["statusCode"] == 200, flow.me
    profile = json.loads(flow.me["body"])
    assert (profile["id"], profile["email"], profile["name"]) == (
        flow.allowed["context"]["userId"],
        "ada@example.com",
        "Ada Lovelace",
    )


def authorized(event_name: str, allowed: dict[str, Any], body: dict[str, Any] | None = None) -> dict[str, Any]:
    """events/EVENT_NAME.json as API Gateway passes it on after the authorizer's `allowed` answer."""
    document = copy.deepcopy(event(event_name))
    document["requestContext"]["authorizer"] = {"principalId": allowed["principalId"], **allowed["context"]}
    if body is not None:
        document["body"] = json.dumps(body)
    return document


def authorize(artifact: Artifact, deployment: Deployment, token: str) -> Any:
    request = copy.deepcopy(event("authorizer"))
    request["headers"]["Authorization"] = f"Bearer {token}"
    return deployment.invoke(artifact, "AuthorizerFunction", request)


def test_the_lifecycle_from_the_artifact_mails_through_ses_resets_and_logs_out(
    artifact: Artifact, deployment: Deployment, flow: Flow, stack: LocalStack
) -> None:
    """The mailer sends the code with SES v2 (moto's, its sender verified), the confirmation ends the
    login's session, and a logout ends the reset's: the authorizer refuses each ended session."""
    from moto.backends import get_backend

    boto3.client("sesv2", endpoint_url=stack.endpoint_url, region_name=REGION).create_email_identity(
        EmailIdentity=SENDER
    )
    mailer_env = {"AUTH_MAIL_SENDER": SENDER, "AWS_ENDPOINT_URL_SESV2": stack.endpoint_url}
    mailer = Deployment({**deployment.env, **mailer_env}, deployment.workdir)
    answered(mailer.invoke(artifact, "PasswordResetMailerFunction", event("password_reset_mailer")))
    sent = [m for m in get_backend("ses")["123456789012"][REGION].sent_messages if m.source == SENDER]
    assert sent and sent[-1].destinations == {"ToAddresses": ["ada@example.com"]}
    code = reset_code_in(sent[-1].body)

    confirm = copy.deepcopy(event("password_reset_confirm"))
    confirm["body"] = json.dumps({"email": "ada@example.com", "code": code, "new_password": "a new engine 2"})
    confirmed = answered(deployment.invoke(artifact, "PasswordResetConfirmFunction", confirm))
    assert confirmed["statusCode"] == 200, confirmed
    login_token = json.loads(flow.login["body"])["authToken"]
    assert authorize(artifact, deployment, login_token) == DENIED

    token = json.loads(confirmed["body"])["authToken"]
    allowed = answered(authorize(artifact, deployment, token))
    logout = answered(deployment.invoke(artifact, "LogoutFunction", authorized("logout", allowed)))
    assert (logout["statusCode"], logout["body"]) == (200, "{}")
    assert authorize(artifact, deployment, token) == DENIED


def test_every_function_of_the_template_is_in_the_artifact(artifact: Artifact) -> None:
    assert set(artifact.functions) == FUNCTIONS
    for function in artifact.functions.values():
        assert (function.code_dir / "app.py").is_file()


def _locked_versions() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", LOCK.read_text(), flags=re.MULTILINE)
    return {_normal(name): version for name, version in pins}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_layer_holds_exactly_the_locked_distributions(artifact: Artifact) -> None:
    installed = {}
    for metadata in artifact.layer.glob("*.dist-info/METADATA"):
        headers = email.parser.Parser().parsestr(metadata.read_text(encoding="utf-8"), headersonly=True)
        installed[_normal(headers["Name"])] = headers["Version"]
    assert installed == _locked_versions()


def test_every_python_file_of_the_layer_has_python_3_13_bytecode_never_checked_against_its_source(
    artifact: Artifact,
) -> None:
    magic_program = "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"
    magic = subprocess.run(  # noqa: S603 - the artifact's interpreter
        [str(artifact.python), "-I", "-S", "-c", magic_program],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sources = sorted(artifact.layer.rglob("*.py"))
    assert len(sources) > 100  # the libraries, not only lambda_auth
    missing, wrong = [], []
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not compiled.is_file():
            missing.append(source)
            continue
        header = compiled.read_bytes()[:8]
        # PEP 552: the magic number, then flags; 0b01 is "hash-based, source never checked".
        if header[:4].hex() != magic or int.from_bytes(header[4:8], "little") != 0b01:
            wrong.append(source)
    assert not missing, missing[:10]
    assert not wrong, wrong[:10]
