"""Handlers run in worker processes that share one table: races tested across processes, as Lambda runs them.

Each `Worker` is a process of its own (multiprocessing's spawn: a fresh interpreter, as a new
Lambda instance is) that loads functions/<name>/app.py as `lambda-auth serve` does
(`lambda_runtime.load_module`), reads the settings this process has (the session's embedded
DynamoDB, its key, the key file) from the environment it inherits, and invokes handlers with
the API Gateway events it is sent.

To make a race deterministic, a request can be sent with a `Hold`: the worker pauses its
first DynamoDB request that the hold matches, just before sending it (a botocore `before-send`
hook of the worker's, test code only), until the test releases it. Meanwhile another worker
runs the request that races it.
"""

from __future__ import annotations

import json
import multiprocessing
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

# Not tests.conftest's: importing that module sets up a test session's environment anew, in the worker too.
ROOT = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 120.0  # bounds every wait on a worker, so that a broken test fails instead of hanging


class WorkerError(RuntimeError):
    """A worker's handler raised, or the worker did not answer in time."""


@dataclass(frozen=True)
class Hold:
    """Pause the first DynamoDB request of one of `operations` (`UpdateItem`, `TransactWriteItems`...)
    that writes or checks the item whose key is `key` (`sessions#7`, `email#ada@example.com`)."""

    operations: tuple[str, ...]
    key: str

    def matches(self, target: str, body: bytes) -> bool:
        operation = target.rpartition(".")[2]
        return operation in self.operations and self.key in _keys(json.loads(body or b"{}"))


def _keys(document: Any) -> Iterator[str]:
    """Every `pk` a DynamoDB request names, at any depth (a transaction names one per item)."""
    if isinstance(document, dict):
        pk = document.get("pk")
        if isinstance(pk, dict) and isinstance(pk.get("S"), str):
            yield pk["S"]
        for value in document.values():
            yield from _keys(value)
    elif isinstance(document, list):
        for value in document:
            yield from _keys(value)


def _serve(connection: Connection, held: Event, release: Event) -> None:
    """The worker's loop: for each (function, event, hold) received, invoke the handler and send back
    ("ok", response) or ("error", traceback); stop at None."""
    from botocore import handlers

    pending: list[Hold] = []

    def hold_matching(request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        if pending and pending[0].matches(target, body):
            pending.clear()
            held.set()
            release.wait(WAIT_SECONDS)

    # Before the layer is imported: every botocore session it creates gets the hook (the layer's own
    # deadline check comes after it, so a hold does not count against the request's deadline twice).
    handlers.BUILTIN_HANDLERS.append(("before-send.dynamodb", hold_matching))
    from lambda_auth_cli import lambda_runtime

    while True:
        message = connection.recv()
        if message is None:
            return
        function, event, hold = message
        pending[:] = [hold] if hold is not None else []
        try:
            handler = lambda_runtime.load_module(ROOT / "functions" / function).lambda_handler
            response = handler(event, lambda_runtime.LambdaContext(function, timeout_seconds=int(WAIT_SECONDS)))
        except BaseException:
            connection.send(("error", traceback.format_exc()))
        else:
            connection.send(("ok", response))
        finally:
            pending.clear()


class Worker:
    """One process that invokes handlers, one request at a time, on the table this process uses."""

    def __init__(self, context: multiprocessing.context.SpawnContext):
        self._connection, child = context.Pipe()
        self._held = context.Event()
        self._release = context.Event()
        self._process = context.Process(target=_serve, args=(child, self._held, self._release), daemon=True)
        self._process.start()
        child.close()

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke functions/<function>'s handler with `event` and wait for its response."""
        self.send(function, event)
        return self.response()

    def send(self, function: str, event: dict[str, Any], hold: Hold | None = None) -> None:
        """Start invoking the handler with `event`, without waiting; `hold` pauses the request it matches."""
        self._held.clear()
        self._release.clear()
        self._connection.send((function, event, hold))

    def wait_held(self) -> None:
        """Wait until the request being invoked has reached its hold."""
        if not self._held.wait(WAIT_SECONDS):
            raise WorkerError("the request never reached its hold")

    def release(self) -> None:
        """Let the held request go on."""
        self._release.set()

    def response(self) -> dict[str, Any]:
        """The response of the request last sent (the handler's exception, as WorkerError)."""
        if not self._connection.poll(WAIT_SECONDS):
            raise WorkerError("the worker did not answer")
        outcome, value = self._connection.recv()
        if outcome != "ok":
            raise WorkerError(value)
        response: dict[str, Any] = value
        return response

    def stop(self) -> None:
        self._release.set()
        with suppress(BrokenPipeError, OSError):
            self._connection.send(None)
        self._process.join(WAIT_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()


@contextmanager
def workers(count: int) -> Iterator[list[Worker]]:
    """`count` worker processes on this process's table (its environment at this moment), stopped at the end."""
    context = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        started: list[Worker] = []
        for _ in range(count):
            worker = Worker(context)
            stack.callback(worker.stop)
            started.append(worker)
        yield started
