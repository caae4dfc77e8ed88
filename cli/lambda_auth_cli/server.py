"""The local HTTP server: uvicorn, with llhttp (httptools) reading HTTP/1.1, in front of the gateway and Run & Debug.

llhttp reads strictly: a malformed request line or header, a signed, hex, repeated or conflicting Content-Length,
both Content-Length and Transfer-Encoding, or a bad chunk size is a 400 and the connection is closed, so no second
request can hide in the body of the first. A body over API Gateway's 10 MB is a 413. Connections are kept alive
between requests, as API Gateway keeps them; each answer writes one access-log line (method, path without its
query string, status, time taken), never a header, a query string or a body.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import uvicorn

from .gateway import MAX_PAYLOAD_BYTES, REQUEST_TOO_LARGE, Gateway, Request, Response

if TYPE_CHECKING:
    from .devtools import DevTools
    from .local_aws import InvokeApi


class _Refusals(logging.Handler):
    """uvicorn's word that it refused a malformed request, as one access-log line (never the request)."""

    def __init__(self, access_log: Callable[[str], None]):
        super().__init__(logging.WARNING)
        self.access_log = access_log

    def emit(self, record: logging.LogRecord) -> None:
        self.access_log(f"{time.strftime('%H:%M:%S')} - refused: {record.getMessage()}")


class LocalServer:
    """An HTTP server bound to one address, answering through `gateway` (and `devtools` and `lambda_api`, once set);
    without a gateway, Lambda's Invoke API alone (`lambda_endpoint`)."""

    def __init__(self, address: tuple[str, int], gateway: Gateway | None, access_log: Callable[[str], None]):
        self.gateway = gateway
        self.access_log = access_log
        self.devtools: DevTools | None = None
        self.lambda_api: InvokeApi | None = None
        self.socket = socket.create_server(address, family=socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
        self.port = int(self.socket.getsockname()[1])  # the port bound (with port 0, a free one)
        config = uvicorn.Config(
            self._asgi, interface="asgi3", http="httptools", lifespan="off", log_config=None, access_log=False,
            timeout_keep_alive=30, server_header=False, date_header=True,  # an idle connection stays open 30 s
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        refusals = logging.getLogger("uvicorn.error")
        refusals.handlers, refusals.propagate = [_Refusals(access_log)], False

    def serve_forever(self) -> None:
        """Answer requests until `shutdown`, Ctrl-C or SIGTERM (which it raises again once it has stopped)."""
        self._server.run(sockets=[self.socket])

    def shutdown(self) -> None:
        self._server.should_exit = True

    def server_close(self) -> None:
        self.socket.close()

    def answer(self, request: Request) -> Response:
        # Run & Debug's routes, and Lambda's Invoke API, sit outside the stage, where API Gateway has nothing.
        for routes in (self.devtools, self.lambda_api):
            if routes is not None and routes.handles(request.path):
                response: Response = routes.handle(request)
                return response
        return self.gateway.handle(request) if self.gateway is not None else Response(404)

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.monotonic()
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        declared = next((int(value) for name, value in headers if name.lower() == "content-length"), 0)
        body = b""
        while declared <= MAX_PAYLOAD_BYTES and len(body) <= MAX_PAYLOAD_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the request was refused mid-body (or its client left): it reaches no function
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path, query = scope["raw_path"].decode("latin-1"), scope["query_string"].decode("latin-1")
        client = (scope.get("client") or ("127.0.0.1", 0))[0]
        request = Request(
            scope["method"], path, query, headers, body, client, self.port, f"HTTP/{scope['http_version']}"
        )
        if max(declared, len(body)) > MAX_PAYLOAD_BYTES:
            response = self.gateway.gateway_response(REQUEST_TOO_LARGE, "-") if self.gateway else Response(413)
            response.headers.append(("Connection", "close"))  # the unread body cannot be skipped
        else:
            response = await asyncio.to_thread(self.answer, request)
        encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
        encoded.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": encoded})
        await send({"type": "http.response.body", "body": response.body})
        elapsed = f"{(time.monotonic() - started) * 1000:.0f}ms"
        self.access_log(f"{time.strftime('%H:%M:%S')} {request.method} {request.path} {response.status} {elapsed}")


@contextmanager
def lambda_endpoint(api: InvokeApi, finish_seconds: float = 60.0, host: str = "127.0.0.1") -> Iterator[str]:
    """`api` alone on a free port of `host` (loopback for `lambda-auth invoke`, the Docker bridge's address for
    sam local's containers): its URL, AWS_ENDPOINT_URL_LAMBDA. On leaving, waits for the invocations it started."""
    server = LocalServer((host, 0), None, access_log=lambda line: None)  # the command prints its result alone
    server.lambda_api = api
    thread = threading.Thread(target=server.serve_forever, name="lambda-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.port}"
        api.finish(finish_seconds)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
