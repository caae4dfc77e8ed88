"""The local server's HTTP over a real socket: keep-alive, repeated headers, and strict framing.

A malformed request is answered with a 400 (or 413, 501) and the connection closed: never
a second request smuggled in the first one's body, never a dropped connection.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from lambda_auth_cli import template
from lambda_auth_cli.gateway import MAX_PAYLOAD_BYTES, Gateway
from lambda_auth_cli.server import LocalServer
from tests.unit.test_gateway import Stub, ok

pytestmark = pytest.mark.e2e


@pytest.fixture
def server() -> Iterator[tuple[LocalServer, Stub, list[str]]]:
    """A local server on a free loopback port whose functions are stubs; the signup stub; its access log."""
    app = template.application()
    signup = Stub({**ok({"echo": True}), "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}})
    functions = {name: signup if name == "SignupFunction" else Stub(ok()) for name in app.functions}
    log: list[str] = []
    running = LocalServer(("127.0.0.1", 0), Gateway(app.api, functions), access_log=log.append)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running, signup, log
    running.shutdown()
    thread.join()
    running.server_close()


def exchange(port: int, raw: bytes) -> bytes:
    """Send raw bytes, then read until the server closes the connection (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def responses(raw: bytes) -> list[tuple[int, bytes]]:
    """Each response's status and body in a stream of them."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        found.append((status, rest[:length]))
        raw = rest[length:]
    return found


SMUGGLED = b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: -5",
        b"Content-Length: +5",
        b"Content-Length: 0x5",
        b"Content-Length: 5\r\nContent-Length: 5",
        b"Content-Length: 5\r\nContent-Length: 6",
        b"Content-Length: 5, 6",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5",
    ],
    ids=["negative", "signed", "hex", "repeated", "conflicting", "list", "both-framings"],
)
def test_a_malformed_content_length_is_a_400_and_the_connection_closes(
    server: tuple[LocalServer, Stub, list[str]], framing: bytes
) -> None:
    running, signup, log = server
    body = b"hello"
    raw = b"POST /api/auth/signup HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n" + body + SMUGGLED
    answers = responses(exchange(running.port, raw))
    assert [status for status, _ in answers] == [400]  # one answer: nothing after it was read as a request
    assert signup.events == []
    assert any("refused" in line for line in log) and not any("Traceback" in line for line in log)


@pytest.mark.parametrize("chunk", [b"zz", b"-5", b"+5", b""], ids=["not-hex", "negative", "signed", "empty"])
def test_a_bad_chunk_size_is_a_400(server: tuple[LocalServer, Stub, list[str]], chunk: bytes) -> None:
    running, signup, _ = server
    raw = (
        b"POST /api/auth/signup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk
        + b"\r\nhello\r\n0\r\n\r\n"
    )
    assert [status for status, _ in responses(exchange(running.port, raw + SMUGGLED))] == [400]
    assert signup.events == []


def test_a_chunked_body_reaches_the_function(server: tuple[LocalServer, Stub, list[str]]) -> None:
    running, signup, _ = server
    raw = b"POST /api/auth/signup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    raw += b'5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
    assert [status for status, _ in responses(exchange(running.port, raw))] == [200]
    assert signup.events[0]["body"] == '{"a":1}'


def test_a_body_over_api_gateways_limit_is_a_413(server: tuple[LocalServer, Stub, list[str]]) -> None:
    running, signup, _ = server
    raw = f"POST /api/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_PAYLOAD_BYTES + 1}\r\n\r\n".encode()
    assert [status for status, _ in responses(exchange(running.port, raw))] == [413]
    assert signup.events == []


def test_requests_on_one_kept_alive_connection_are_each_answered(server: tuple[LocalServer, Stub, list[str]]) -> None:
    running, signup, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        for index in range(3):
            connection.request("POST", "/api/auth/signup", body=json.dumps({"n": index}).encode())
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read()) == {"echo": True}
            assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]  # a repeated header, each line sent
    finally:
        connection.close()
    assert [event["body"] for event in signup.events] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']


def test_a_head_request_gets_the_headers_without_a_body(server: tuple[LocalServer, Stub, list[str]]) -> None:
    running, _, _ = server
    answer = exchange(running.port, b"HEAD /api/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 ") and b"content-length: " in head.lower() and body == b""
