"""The local HTTP server: each request through the gateway (or Run & Debug's own routes), one access-log line each.

The log line holds the method, the path without its query string, the status and the
time taken: never a header, a query string or a body, where tokens and passwords live.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .gateway import MAX_PAYLOAD_BYTES, REQUEST_TOO_LARGE, Gateway, Request, Response

if TYPE_CHECKING:
    from .devtools import DevTools

AccessLog = Callable[[str], None]

IDLE_CONNECTION_SECONDS = 30


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"  # keep-alive, as clients expect of API Gateway
    timeout = IDLE_CONNECTION_SECONDS
    # Headers and body go out in two writes; with Nagle's algorithm on, a keep-alive
    # client waits ~40 ms (delayed ACK) for the second one on every response.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        started = time.monotonic()
        path, _, query = self.path.partition("?")
        gateway = self.server.gateway
        devtools = self.server.devtools
        body = self._read_body()
        if body is None:
            response = gateway.gateway_response(REQUEST_TOO_LARGE, "-")
            self.close_connection = True  # the unread body cannot be skipped
        else:
            request = Request(
                method=self.command,
                path=path,
                query=query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                server_port=self.server.server_address[1],
                protocol=self.request_version,
            )
            # Run & Debug's routes sit outside the stage, where API Gateway has nothing.
            if devtools is not None and devtools.handles(path):
                response = devtools.handle(request)
            else:
                response = gateway.handle(request)
        self._send(response)
        elapsed = (time.monotonic() - started) * 1000
        self.server.access_log(f"{time.strftime('%H:%M:%S')} {self.command} {path} {response.status} {elapsed:.0f}ms")

    def _read_body(self) -> bytes | None:
        """The request body (plain or chunked); None when it is over API Gateway's limit."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_PAYLOAD_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response) -> None:
        self.send_response_only(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with 501; API Gateway takes any
        # method to the gateway, which routes it (an unknown one is the template's 404).
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's own log lines would print request lines, query strings and all: none here."""

    def log_error(self, format: str, *args: Any) -> None:
        """A request too malformed to reach the gateway: one line, without the request itself."""
        self.server.access_log(f"{time.strftime('%H:%M:%S')} - (malformed HTTP request) {args[0] if args else ''}")


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one address, answering through `gateway` (and `devtools`, once set)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway, access_log: AccessLog):
        self.gateway = gateway
        self.access_log = access_log
        self.devtools: DevTools | None = None
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server_address[1])
