"""The template's roles, enforced by the local server as IAM enforces them in AWS, over real HTTP.

Each function runs with its role's key, and the embedded DynamoDB and the Invoke API authorize every call against
the role's policies. So a path whose call the role does not grant fails here as it would in AWS (AccessDenied, the
function's 500), instead of passing with full access: the paths that once failed that way in AWS answer as Xano
does; a role narrowed by one grant breaks its route, and the log names the denied action; one function's key cannot
do what another's role allows.

The servers here are `lambda-auth serve` in a process of its own, started through LAUNCHER: the same command, which
also writes each role's key to a file of the test's (so that a test can sign requests as a function does) and may
take grants out of a role before the server reads it (a role narrowed as a template edit would narrow it).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import awaited_reset_code
from tests.e2e.conftest import (
    COMMAND_TIMEOUT_SECONDS,
    GENEROUS_LIMITS,
    ROOT,
    Reply,
    RunningServer,
    call,
    cli_environment,
    start_server,
    stop_server,
)

PASSWORD = "correct horse battery staple 4"
NEW_PASSWORD = "a new horse, a new staple 5"
FATAL = {"code": "ERROR_FATAL", "message": "Something went wrong. Please try again."}
ACCESS_DENIED = "ERROR_CODE_ACCESS_DENIED"

# `lambda-auth ARGUMENTS` as the console script runs it, with two additions read from the first argument (JSON):
# "keys", a file each role's key is written to, and "narrow", {function: [action, ...]} whose grants leave its role.
LAUNCHER = """
import dataclasses, json, os, sys
from lambda_auth_cli import main, roles, serve, template

options = json.loads(sys.argv[1])
application = template.application

def narrowed(*args, **kwargs):
    app = application(*args, **kwargs)
    for name, actions in options.get("narrow", {}).items():
        documents = []
        for document in app.functions[name].policies:
            statements = document["Statement"]
            statements = [statements] if isinstance(statements, dict) else statements
            kept = []
            for statement in statements:
                listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                left = [action for action in listed if action not in actions]
                if left:
                    kept.append({**statement, "Action": left})
            documents.append({**document, "Statement": kept})
        app.functions[name] = dataclasses.replace(app.functions[name], policies=tuple(documents))
    return app

class RecordedRoles(roles.Roles):
    def __init__(self, app):
        super().__init__(app)
        keys = {name: [role.credentials.access_key_id, role.credentials.secret_access_key]
                for name, role in self.by_function.items()}
        descriptor = os.open(options["keys"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w") as stream:
            json.dump(keys, stream)

template.application = narrowed
serve.Roles = RecordedRoles
sys.exit(main.main(sys.argv[2:]))
"""


class Server:
    """A running server, the keys of its functions' roles, and what a test asks of it."""

    def __init__(self, running: RunningServer, keys: dict[str, tuple[str, str]]):
        self.running = running
        self.keys = keys
        self.record = json.loads((running.key_file.parent / "server.json").read_text())

    @property
    def base_url(self) -> str:
        return self.running.base_url

    def post(self, route: str, body: Any, token: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return call(f"{self.base_url}{route}", "POST", body, headers=headers)

    def me(self, token: str) -> Reply:
        return call(f"{self.base_url}/auth/me", headers={"Authorization": f"Bearer {token}"})

    def signup(self, email: str) -> Reply:
        return self.post("/auth/signup", {"name": "Noor", "email": email, "password": PASSWORD})

    def log(self) -> str:
        return self.running.output.text()

    def wait_in_log(self, predicate: Callable[[str], bool], timeout: float = 10.0) -> bool:
        return self.running.output.wait_for(lambda lines: predicate("\n".join(lines)), timeout)

    def client(self, service: str, function: str) -> Any:
        """A boto3 client of `service` signed with `function`'s role key, as the function's own calls are."""
        key_id, secret = self.keys[function]
        endpoint = self.record["dynamodb_endpoint"] if service == "dynamodb" else self.record["url"]
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}),
        )

    def outbox(self) -> list[dict[str, str]]:
        path = self.running.key_file.parent / "outbox.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def reset_code(self, email: str) -> str:
        return awaited_reset_code(self.outbox, email)


def launcher(options: str, *arguments: str) -> list[str]:
    """The command that runs `lambda-auth ARGUMENTS` through LAUNCHER with `options` (its JSON)."""
    return [sys.executable, "-c", LAUNCHER, options, *arguments]


@contextlib.contextmanager
def launched(
    tmp_path_factory: pytest.TempPathFactory, name: str, narrow: dict[str, list[str]] | None = None
) -> Iterator[Server]:
    """`lambda-auth serve --port 0` through LAUNCHER, with generous limits per address and --verbose (so that the
    log names each allowed call's grant); it must stop cleanly."""
    folder = tmp_path_factory.mktemp(name)
    keys_path = folder / "role-keys.json"
    options = json.dumps({"keys": str(keys_path), "narrow": narrow or {}})
    running = start_server(folder / "jwks.json", "--verbose", *GENEROUS_LIMITS, command=launcher(options))
    output = running.output
    try:
        keys = {function: (pair[0], pair[1]) for function, pair in json.loads(keys_path.read_text()).items()}
        yield Server(running, keys)
    finally:
        status = stop_server(running)
        assert status == 0, f"the server did not stop cleanly ({status}):\n{output.text()}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The template's roles as written."""
    with launched(tmp_path_factory, "roles") as running:
        yield running


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Signup without GetItem (the template before the in-use path was granted it), /auth/me without GetItem."""
    narrow = {"SignupFunction": ["dynamodb:GetItem"], "MeFunction": ["dynamodb:GetItem"]}
    with launched(tmp_path_factory, "narrowed", narrow) as running:
        yield running


def email_address() -> str:
    return f"roles-{uuid.uuid4().hex[:10]}@example.com"


def refused(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert reply.json()["code"] == code


def denials(log: str, function: str) -> list[str]:
    """The actions the log says `function`'s role was denied."""
    return re.findall(rf"{function} denied: User: \S+ is not authorized to perform: (\S+)", log)


def together(*requests: Callable[[], Reply]) -> list[Reply]:
    """The requests sent at once, each from a thread of its own; their replies in order."""
    replies: list[Reply | None] = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def send(index: int) -> None:
        start.wait()
        replies[index] = requests[index]()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(reply is not None for reply in replies), "a request did not finish"
    return [reply for reply in replies if reply is not None]


# (a) A duplicate signup: the in-use path reads whose the email is (GetItem email#), which its role grants.


def test_a_duplicate_signup_is_xanos_403_under_the_signup_role(server: Server) -> None:
    email = email_address()
    assert server.signup(email).status == 200
    again = server.signup(email)
    refused(again, 403, ACCESS_DENIED)
    assert again.json()["message"] == "This account is already in use."
    assert server.wait_in_log(lambda log: "SignupFunction allowed dynamodb:GetItem on email#*" in log)
    assert denials(server.log(), "SignupFunction") == []


def test_without_its_get_item_grant_a_duplicate_signup_is_the_500_it_was_in_aws(narrowed: Server) -> None:
    email = email_address()
    assert narrowed.signup(email).status == 200  # the first signup reads nothing
    again = narrowed.signup(email)
    assert (again.status, again.json()) == (500, FATAL)
    assert narrowed.wait_in_log(lambda log: "dynamodb:GetItem" in denials(log, "SignupFunction"))
    assert "AccessDeniedException" in narrowed.log()  # what the function's DynamoDB client was answered


# (b) A reset confirmation submitted twice, or guessed at while the right code is confirmed: 403, never a 500.


def requested_code(server: Server, email: str) -> str:
    assert server.signup(email).status == 200
    assert server.post("/auth/password-reset", {"email": email}).status == 200
    return server.reset_code(email)


def confirm(server: Server, email: str, code: str) -> Callable[[], Reply]:
    body = {"email": email, "code": code, "new_password": NEW_PASSWORD}
    return lambda: server.post("/auth/password-reset/confirm", body)


def test_a_reset_confirmation_submitted_twice_is_a_403_the_second_time(server: Server) -> None:
    email = email_address()
    code = requested_code(server, email)
    first, second = confirm(server, email, code)(), confirm(server, email, code)()
    assert first.status == 200, first.body
    refused(second, 403, ACCESS_DENIED)
    assert second.json()["message"] == "Invalid or expired code."


def test_a_reset_confirmation_submitted_twice_at_once_is_one_200_and_one_403(server: Server) -> None:
    # Two confirmations both let in by the code's check race to spend it: the loser's transaction is refused and
    # it reads the credentials (GetItem email#, granted) to see whether its own earlier attempt set the password.
    # Two warm instances make the race real; a try where one answered before the other was let in is tried again.
    warm = email_address()
    together(confirm(server, warm, "00000000"), confirm(server, warm, "00000000"))
    raced = False
    for _ in range(3):
        email = email_address()
        code = requested_code(server, email)
        mark = len(server.running.output.lines)
        replies = together(confirm(server, email, code), confirm(server, email, code))
        assert sorted(reply.status for reply in replies) == [200, 403], [reply.body for reply in replies]
        refused(next(reply for reply in replies if reply.status == 403), 403, ACCESS_DENIED)
        token = next(reply for reply in replies if reply.status == 200).json()["authToken"]
        assert server.me(token).json()["email"] == email
        since = "\n".join(server.running.output.lines[mark:])
        if "PasswordResetConfirmFunction allowed dynamodb:GetItem on email#*" in since:
            raced = True
            break
    assert raced, "no try raced both confirmations past the code's check"
    assert denials(server.log(), "PasswordResetConfirmFunction") == []


def test_a_wrong_guess_while_the_right_code_is_confirmed_is_a_403(server: Server) -> None:
    email = email_address()
    code = requested_code(server, email)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    right, guess = together(confirm(server, email, code), confirm(server, email, wrong))
    assert right.status == 200, right.body
    refused(guess, 403, ACCESS_DENIED)
    assert denials(server.log(), "PasswordResetConfirmFunction") == []


# (c) A role narrowed by one grant: its route is the function's 500, and the log names the action denied.


def test_a_route_whose_role_lost_its_grant_answers_500_and_the_log_names_the_denied_action(narrowed: Server) -> None:
    token = narrowed.signup(email_address()).json()["authToken"]
    reply = narrowed.me(token)
    assert (reply.status, reply.json()) == (500, FATAL)
    assert narrowed.wait_in_log(lambda log: "dynamodb:GetItem" in denials(log, "MeFunction"))
    line = next(line for line in narrowed.log().splitlines() if "MeFunction denied:" in line)
    assert "assumed-role/MeFunctionRole/MeFunction" in line
    assert "because no identity-based policy allows the dynamodb:GetItem action" in line
    assert narrowed.keys["MeFunction"][0] not in narrowed.log() and narrowed.keys["MeFunction"][1] not in line


def test_the_same_route_answers_under_its_role_as_written(server: Server) -> None:
    email = email_address()
    reply = server.me(server.signup(email).json()["authToken"])
    assert reply.status == 200 and reply.json()["email"] == email
    assert denials(server.log(), "MeFunction") == []


def test_invoke_runs_a_function_under_its_role_and_a_narrowed_one_is_its_500(tmp_path: Path) -> None:
    def invoke(narrow: dict[str, list[str]]) -> subprocess.CompletedProcess[str]:
        options = json.dumps({"keys": str(tmp_path / "role-keys.json"), "narrow": narrow})
        arguments = ["invoke", "MeFunction", "--event", "events/me.json", "--jwks", str(tmp_path / "jwks.json")]
        return subprocess.run(  # noqa: S603 - this interpreter, our own script and arguments
            launcher(options, *arguments),
            cwd=ROOT,
            env=cli_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )

    as_written = invoke({})
    assert as_written.returncode == 0, as_written.stderr
    assert json.loads(as_written.stdout)["statusCode"] == 401  # the event's user 1 is in no fresh store
    assert denials(as_written.stderr, "MeFunction") == []
    narrowed = invoke({"MeFunction": ["dynamodb:GetItem"]})
    assert narrowed.returncode == 0, narrowed.stderr
    answer = json.loads(narrowed.stdout)
    assert (answer["statusCode"], json.loads(answer["body"])) == (500, FATAL)
    assert denials(narrowed.stderr, "MeFunction") == ["dynamodb:GetItem"]


# (d) One function's key cannot do what another's role allows.


def test_me_s_key_cannot_write_credentials_which_signup_s_can(server: Server) -> None:
    email = email_address()
    item = {"pk": {"S": f"email#{email}"}, "user_id": {"N": "999999"}, "password_hash": {"S": "not a hash"}}
    with pytest.raises(ClientError) as denied:
        server.client("dynamodb", "MeFunction").put_item(TableName="lambda-auth", Item=item)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "assumed-role/MeFunctionRole/MeFunction is not authorized to perform: dynamodb:PutItem" in str(denied.value)
    server.client("dynamodb", "SignupFunction").put_item(TableName="lambda-auth", Item=item)  # signup's role may
    stored = server.client("dynamodb", "LoginFunction").get_item(TableName="lambda-auth", Key={"pk": item["pk"]})
    assert stored["Item"]["user_id"] == {"N": "999999"}


def test_the_authorizer_s_key_cannot_read_a_reset_code_which_the_mailer_s_can(server: Server) -> None:
    email = email_address()
    requested_code(server, email)
    key = {"pk": {"S": f"reset#{email}"}}
    with pytest.raises(ClientError) as denied:
        server.client("dynamodb", "AuthorizerFunction").get_item(TableName="lambda-auth", Key=key)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    stored = server.client("dynamodb", "PasswordResetMailerFunction").get_item(TableName="lambda-auth", Key=key)
    assert "code_hash" in stored["Item"]


def test_a_transaction_is_refused_whole_for_the_one_write_the_key_s_role_does_not_grant(server: Server) -> None:
    email = email_address()
    writes = [
        {"Put": {"TableName": "lambda-auth", "Item": {"pk": {"S": f"user#{uuid.uuid4().int % 10**9}"}}}},
        {"Put": {"TableName": "lambda-auth", "Item": {"pk": {"S": f"reset#{email}"}, "code_hash": {"S": "x"}}}},
    ]
    with pytest.raises(ClientError) as denied:
        server.client("dynamodb", "SignupFunction").transact_write_items(TransactItems=writes)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    mailer = server.client("dynamodb", "PasswordResetMailerFunction")
    assert "Item" not in mailer.get_item(TableName="lambda-auth", Key={"pk": {"S": f"reset#{email}"}})


def test_only_the_reset_request_s_key_may_invoke_the_mailer(server: Server) -> None:
    event = json.dumps({"email": email_address(), "request_id": uuid.uuid4().hex}).encode()  # no account: no mail
    with pytest.raises(ClientError) as denied:
        server.client("lambda", "SignupFunction").invoke(
            FunctionName="PasswordResetMailerFunction", InvocationType="Event", Payload=event
        )
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    allowed = server.client("lambda", "PasswordResetFunction").invoke(
        FunctionName="PasswordResetMailerFunction", InvocationType="Event", Payload=event
    )
    assert allowed["StatusCode"] == 202


@pytest.mark.parametrize(
    "named",
    [
        "PasswordResetMailerFunction:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:PasswordResetMailerFunction",
        "arn:aws:lambda:us-east-1:123456789012:function:PasswordResetMailerFunction:$LATEST",
    ],
)
def test_the_mailer_is_invoked_by_its_arn_or_with_a_qualifier_as_by_its_name(server: Server, named: str) -> None:
    event = json.dumps({"email": email_address(), "request_id": uuid.uuid4().hex}).encode()
    answer = server.client("lambda", "PasswordResetFunction").invoke(
        FunctionName=named, InvocationType="Event", Payload=event
    )
    assert answer["StatusCode"] == 202
    with pytest.raises(ClientError) as denied:
        server.client("lambda", "MeFunction").invoke(FunctionName=named, InvocationType="Event", Payload=event)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_role_s_key_signed_with_another_secret_is_refused(server: Server) -> None:
    key_id, _ = server.keys["MeFunction"]
    forged = boto3.client(
        "dynamodb",
        endpoint_url=server.record["dynamodb_endpoint"],
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=server.keys["SignupFunction"][1],
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as rejected:
        forged.get_item(TableName="lambda-auth", Key={"pk": {"S": "user#1"}})
    assert rejected.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_the_runs_own_key_keeps_full_access(server: Server) -> None:
    # What the admin commands and Run & Debug use: like an operator's, not a function's role.
    own = boto3.client(
        "dynamodb",
        endpoint_url=server.record["dynamodb_endpoint"],
        region_name="us-east-1",
        aws_access_key_id=server.record["access_key_id"],
        aws_secret_access_key=server.record["secret_access_key"],
    )
    assert own.scan(TableName="lambda-auth", Limit=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
