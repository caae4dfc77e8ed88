"""What `lambda-auth sam-local` adds for sam local's containers: Lambda's Invoke API, each request checked
as the moto checks its own and passed on to `sam local start-lambda`, and the mail the functions send
through the moto's SES, copied into the run's outbox. (tests/sam_local runs them with SAM CLI, in Docker.)"""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socketserver import ThreadingMixIn, UnixStreamServer
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambda_auth import aws, settings
from lambda_auth_cli import local_aws
from lambda_auth_cli.gateway import Request
from lambda_auth_cli.sam_local import LambdaForwarder, OutboxCopy
from lambda_auth_cli.server import lambda_endpoint
from tests.conftest import LocalStack

REGION = "us-east-1"
BRIDGE = "172.17.0.1"  # Docker's default bridge gateway, where the forwarder listens for the containers
INVOKE_PATH = "/2015-03-31/functions/PasswordResetMailerFunction/invocations"


@dataclass
class StartLambda:
    """A stand-in for `sam local start-lambda` on its Unix socket: what it was sent, and what it answers."""

    socket: Path
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class UnixHTTPServer(ThreadingMixIn, UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def start_lambda(tmp_path: Path) -> Iterator[StartLambda]:
    fake = StartLambda(tmp_path / "start-lambda.sock")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fake.received.append((self.path, dict(self.headers.items()), body))
            self.send_response(fake.status)
            for name, value in {**fake.headers, "Content-Length": str(len(fake.body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(fake.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def address_string(self) -> str:  # a Unix socket's client has no address
            return "local"

    server = UnixHTTPServer(str(fake.socket), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def signed_request(
    credentials: local_aws.LocalCredentials,
    host: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    seconds_ago: float = 0,
) -> Request:
    """An Invoke request to `host` as the layer's client signs it (the reset request's hand-over), `seconds_ago`."""
    key = aws.Credentials(credentials.access_key_id, credentials.secret_access_key)
    unsigned = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event", **(headers or {})}
    date = time.strftime(local_aws.AMZ_DATE_FORMAT, time.gmtime(time.time() - seconds_ago))
    signed = aws.sign("POST", f"http://{host}{INVOKE_PATH}", unsigned, body, key, REGION, "lambda", date)
    return Request("POST", INVOKE_PATH, "", list(signed.items()), body, "172.17.0.2", 5000)


def test_a_signed_event_invocation_is_passed_on_and_start_lambdas_answer_comes_back(
    start_lambda: StartLambda,
) -> None:
    credentials = local_aws.LocalCredentials.fresh()
    forwarder = LambdaForwarder(start_lambda.socket, credentials, BRIDGE)
    body = b'{"email": "ada@example.com"}'
    answer = forwarder.handle(signed_request(credentials, f"{BRIDGE}:5000", body))
    assert answer.status == 202
    ((path, headers, received),) = start_lambda.received
    assert (path, received) == (INVOKE_PATH, body)
    assert headers["X-Amz-Invocation-Type"] == "Event"
    assert "Authorization" not in headers  # start-lambda checks nothing: the key stays here


def test_an_invocation_by_arn_signed_as_boto3_signs_it_is_passed_on_as_sent(start_lambda: StartLambda) -> None:
    # boto3 sends the ARN's colons as %3A and signs the path encoded once more, as SigV4 asks of Lambda.
    credentials = local_aws.LocalCredentials.fresh()
    forwarder = LambdaForwarder(start_lambda.socket, credentials, BRIDGE)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:PasswordResetMailerFunction"
    path = f"/2015-03-31/functions/{quote(arn, safe='')}/invocations"
    signed = AWSRequest("POST", f"http://{BRIDGE}:5000{path}", data=b"{}", headers={"X-Amz-Invocation-Type": "Event"})
    SigV4Auth(Credentials(credentials.access_key_id, credentials.secret_access_key), "lambda", REGION).add_auth(signed)
    headers = [("Host", f"{BRIDGE}:5000"), *((name, str(value)) for name, value in signed.headers.items())]
    answer = forwarder.handle(Request("POST", path, "", headers, b"{}", "172.17.0.2", 5000))
    assert answer.status == 202, answer.body
    assert [received_path for received_path, _, _ in start_lambda.received] == [path]


def test_a_function_error_from_start_lambda_comes_back_as_lambda_reports_it(start_lambda: StartLambda) -> None:
    start_lambda.status, start_lambda.body = 200, b'{"errorMessage": "boom", "errorType": "RuntimeError"}'
    start_lambda.headers = {"Content-Type": "application/json", "X-Amz-Function-Error": "Unhandled"}
    credentials = local_aws.LocalCredentials.fresh()
    forwarder = LambdaForwarder(start_lambda.socket, credentials, BRIDGE)
    request = signed_request(credentials, f"{BRIDGE}:5000", b"{}", {"X-Amz-Invocation-Type": "RequestResponse"})
    answer = forwarder.handle(request)
    assert (answer.status, answer.body) == (200, start_lambda.body)
    assert ("X-Amz-Function-Error", "Unhandled") in answer.headers


@pytest.mark.parametrize("refused", ["unsigned", "another-key", "origin", "another-address", "a-name", "stale"])
def test_a_request_the_moto_would_refuse_is_refused_and_never_passed_on(
    start_lambda: StartLambda, refused: str
) -> None:
    credentials = local_aws.LocalCredentials.fresh()
    forwarder = LambdaForwarder(start_lambda.socket, credentials, BRIDGE)
    signer = local_aws.LocalCredentials.fresh() if refused == "another-key" else credentials
    host = {"another-address": "172.17.0.2:5000", "a-name": "lambda.evil.example:5000"}.get(refused, f"{BRIDGE}:5000")
    origin = {"Origin": "http://172.17.0.1:8080"} if refused == "origin" else {}
    request = signed_request(signer, host, b"{}", origin, seconds_ago=360 if refused == "stale" else 0)
    if refused == "unsigned":
        request = dataclasses.replace(request, headers=[item for item in request.headers if item[0] != "Authorization"])
    answer = forwarder.handle(request)
    assert answer.status == 403
    assert json.loads(answer.body)["Type"] == "User"
    assert start_lambda.received == []


def test_start_lambda_not_answering_is_a_502_the_caller_sees(tmp_path: Path) -> None:
    credentials = local_aws.LocalCredentials.fresh()
    gone = LambdaForwarder(tmp_path / "start-lambda.sock", credentials, BRIDGE)  # nothing listens there
    answer = gone.handle(signed_request(credentials, f"{BRIDGE}:5000", b"{}"))
    assert answer.status == 502


def test_the_layers_hand_over_reaches_start_lambda_through_the_forwarder_over_http(
    start_lambda: StartLambda,
) -> None:
    credentials = local_aws.LocalCredentials.fresh()
    forwarder = LambdaForwarder(start_lambda.socket, credentials, "127.0.0.1")
    with lambda_endpoint(forwarder) as endpoint:
        configured = settings.AwsSettings(
            region=REGION,
            access_key_id=credentials.access_key_id,
            secret_access_key=credentials.secret_access_key,
            session_token=None,
            endpoints={"lambda": endpoint},
        )
        answer = aws.call(
            "lambda",
            REGION,
            INVOKE_PATH,
            {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
            b'{"email": "ada@example.com"}',
            what="hand over",
            aws=configured,
        )
    assert answer.status == 202
    assert [(path, body) for path, _, body in start_lambda.received] == [(INVOKE_PATH, b'{"email": "ada@example.com"}')]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/2015-03-31/functions"), ("GET", "/docs"), ("GET", "/api/auth/me")]
)
def test_a_lambda_endpoint_answers_nothing_but_the_invoke_api(method: str, path: str, tmp_path: Path) -> None:
    forwarder = LambdaForwarder(tmp_path / "none.sock", local_aws.LocalCredentials.fresh(), "127.0.0.1")  # unused
    with lambda_endpoint(forwarder) as endpoint:
        connection = http.client.HTTPConnection(endpoint.removeprefix("http://"), timeout=5)
        connection.request(method, path, body=b"{}" if method == "POST" else None)
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (404, b"")
        connection.close()


# The outbox


def lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_mail_sent_through_the_motos_ses_is_copied_once_into_the_outbox(stack: LocalStack, tmp_path: Path) -> None:
    sender = "no-reply@example.com"
    ses = boto3.client("sesv2", endpoint_url=stack.endpoint_url, region_name=REGION)
    ses.create_email_identity(EmailIdentity=sender)
    outbox = tmp_path / "outbox.jsonl"
    copy = OutboxCopy(outbox)
    copy()  # the session's earlier mail, if any
    before = len(lines(outbox))
    ses.send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": ["grace@example.com"]},
        Content={
            "Simple": {
                "Subject": {"Data": "Your password reset code"},
                "Body": {"Text": {"Data": "Your password reset code is 12345678."}},
            }
        },
    )
    copy()
    copy()  # nothing new: nothing more
    new = lines(outbox)[before:]
    assert [{name: line[name] for name in ("to", "subject", "text")} for line in new] == [
        {
            "to": "grace@example.com",
            "subject": "Your password reset code",
            "text": "Your password reset code is 12345678.",
        }
    ]
    assert set(new[0]) == {"to", "subject", "text", "sent_at"}  # as the functions write a local outbox
