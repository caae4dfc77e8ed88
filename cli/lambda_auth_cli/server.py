"""The local HTTP server: HTTP/1.1 read by h11, each request answered by the gateway (or Run & Debug).

h11 does the parsing and framing, strictly: a request line or header it cannot read, a
signed, hex or otherwise malformed Content-Length, conflicting lengths, a bad chunk size
or an unsupported Transfer-Encoding is a 400 (or 501) and the connection is closed, so no
second request can hide in the body of the first. Two checks are added to h11's, for the
same reason: a repeated Content-Length, and a request with both Transfer-Encoding and
Content-Length, are 400s too. Bodies over API Gateway's 10 MB are a 413.

Each connection has a thread of its own and is kept alive between requests, as API
Gateway keeps it. Each answer writes one access-log line: method, path without its query
string, status and time taken; never a header, a query string or a body.
"""

from __future__ import annotations

import re
import socket
import socketserver
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING

import h11

from .gateway import BAD_REQUEST_BODY, MAX_PAYLOAD_BYTES, REQUEST_TOO_LARGE, Gateway, Request, Response

if TYPE_CHECKING:
    from .devtools import DevTools

AccessLog = Callable[[str], None]

IDLE_CONNECTION_SECONDS = 30
MAX_HEAD_BYTES = 64 * 1024
READ_BYTES = 64 * 1024
_LINE_END = re.compile(rb"\r?\n")


class _Refused(Exception):
    """A request the server answers itself and then closes the connection: 400, 413 or 501."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class LocalServer(socketserver.ThreadingTCPServer):
    """A threading HTTP server bound to one address, answering through `gateway` (and `devtools`, once set)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway, access_log: AccessLog):
        self.gateway = gateway
        self.access_log = access_log
        self.devtools: DevTools | None = None
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Connection)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server_address[1])

    def answer(self, request: Request) -> Response:
        # Run & Debug's routes sit outside the stage, where API Gateway has nothing.
        if self.devtools is not None and self.devtools.handles(request.path):
            return self.devtools.handle(request)
        return self.gateway.handle(request)


class _Connection(socketserver.BaseRequestHandler):
    server: LocalServer
    request: socket.socket

    def setup(self) -> None:
        self.request.settimeout(IDLE_CONNECTION_SECONDS)
        # Without it, a keep-alive client waits for a delayed ACK between a response's writes.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.head = bytearray()  # the current request's bytes until its head is complete

    def handle(self) -> None:
        while True:
            started = time.monotonic()
            try:
                request = self._receive()
            except _Refused as refusal:
                kind = REQUEST_TOO_LARGE if refusal.status == 413 else BAD_REQUEST_BODY
                response = self.server.gateway.gateway_response(kind, "-")
                response.status = refusal.status
                self._send("", response, close=True)
                self._log("-", f"(refused: {refusal})", response.status, started)
                return
            except OSError:  # the client went away, or stayed idle too long
                return
            if request is None:
                return
            response = self.server.answer(request)
            if not self._send(request.method, response):
                return
            self._log(request.method, request.path, response.status, started)
            if self.http.our_state is not h11.DONE or self.http.their_state is not h11.DONE:
                return
            self.head = bytearray(self.http.trailing_data[0])
            self.http.start_next_cycle()

    def _receive(self) -> Request | None:
        """The next request, its body read whole; None when the client closed the connection between requests."""
        start: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as error:
                raise _Refused(error.error_status_hint, str(error)) from None
            if event is h11.NEED_DATA:
                if self.http.they_are_waiting_for_100_continue:
                    self.request.sendall(self.http.send(h11.InformationalResponse(status_code=100, headers=[])))
                data = self.request.recv(READ_BYTES)
                if start is None:
                    self.head += data
                self.http.receive_data(data)
            elif isinstance(event, h11.Request):
                start = event
                self._check_framing(event)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_PAYLOAD_BYTES:
                    raise _Refused(413, "body over API Gateway's limit")
            elif isinstance(event, h11.EndOfMessage) and start is not None:
                return self._request(start, bytes(body))
            else:  # ConnectionClosed
                return None

    def _check_framing(self, start: h11.Request) -> None:
        """What h11 lets through but a request must not have: a repeated length, or two kinds of framing."""
        names = []
        for line in _LINE_END.split(bytes(self.head))[1:]:
            if not line:
                break
            names.append(line.partition(b":")[0].strip().lower())
        if names.count(b"content-length") > 1:
            raise _Refused(400, "repeated Content-Length")
        if b"content-length" in names and b"transfer-encoding" in names:
            raise _Refused(400, "both Content-Length and Transfer-Encoding")
        length = next((value for name, value in start.headers if name == b"content-length"), b"0")
        if int(length) > MAX_PAYLOAD_BYTES:
            raise _Refused(413, "body over API Gateway's limit")

    def _request(self, start: h11.Request, body: bytes) -> Request:
        path, _, query = start.target.decode("latin-1").partition("?")
        return Request(
            method=start.method.decode("ascii"),
            path=path,
            query=query,
            headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in start.headers.raw_items()],
            body=body,
            source_ip=str(self.client_address[0]),
            server_port=self.server.port,
            protocol=f"HTTP/{start.http_version.decode('ascii')}",
        )

    def _send(self, method: str, response: Response, close: bool = False) -> bool:
        """Write the response; False when it could not be (the client is gone, or a header is unsendable)."""
        headers = [*response.headers, ("Date", formatdate(usegmt=True)), ("Content-Length", str(len(response.body)))]
        if close:
            headers.append(("Connection", "close"))
        try:
            reason = HTTPStatus(response.status).phrase.encode()
        except ValueError:
            reason = b""
        try:
            data = self.http.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
            if method != "HEAD" and response.body:
                data += self.http.send(h11.Data(data=response.body))
            data += self.http.send(h11.EndOfMessage())
            self.request.sendall(data)
        except (h11.LocalProtocolError, OSError) as error:
            self.server.access_log(f"{time.strftime('%H:%M:%S')} {method} - response not sent: {error}")
            return False
        return True

    def _log(self, method: str, path: str, status: int, started: float) -> None:
        elapsed = (time.monotonic() - started) * 1000
        self.server.access_log(f"{time.strftime('%H:%M:%S')} {method} {path} {status} {elapsed:.0f}ms")
