"""The local server as users run it: `lambda-auth serve` in a process of its own, on a free port.

The session starts one server (its own embedded DynamoDB, its own key file), reads the
base URL from its banner, collects its output, and stops it at the end.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 15
# What the server must not inherit from the test process: it sets up its own store and keys.
PRIVATE_VARIABLES = ("AWS_ENDPOINT_URL_DYNAMODB", "AUTH_JWKS_FILE", "AUTH_TABLE_NAME")


def cli_command() -> list[str]:
    """The installed `lambda-auth` console script of this environment."""
    script = Path(sys.executable).with_name("lambda-auth")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lambda_auth_cli"]


def cli_environment(**extra: str) -> dict[str, str]:
    """This process's environment without the test stack's settings, plus `extra`."""
    environment = {name: value for name, value in os.environ.items() if name not in PRIVATE_VARIABLES}
    environment.update(extra)
    return environment


COMMAND_TIMEOUT_SECONDS = 120


def run_cli(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`lambda-auth ARGUMENTS` in a process of its own, from the repository's root."""
    return subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [*cli_command(), *arguments],
        cwd=ROOT,
        env=cli_environment(**environment),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], exit_code: int, stdout_empty: bool = False) -> str:
    """The command failed with `exit_code` and one `lambda-auth: ...` line on stderr; that line."""
    assert result.returncode == exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lambda-auth: "), result.stderr
    assert "Traceback" not in result.stderr
    if stdout_empty:
        assert result.stdout == ""
    return lines[0]


@dataclass
class Output:
    """A process's output lines, collected by a thread as they come."""

    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    closed: bool = False

    def collect(self, stream: Any) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float) -> bool:
        """Wait (bounded) until `predicate(lines)` holds or the stream closes; whether it holds."""
        with self.changed:
            self.changed.wait_for(lambda: predicate(self.lines) or self.closed, timeout=timeout)
            return predicate(self.lines)

    def text(self) -> str:
        with self.changed:
            return "\n".join(self.lines)


@dataclass
class RunningServer:
    base_url: str
    key_file: Path
    process: subprocess.Popen[str]
    output: Output

    @property
    def origin(self) -> str:
        """scheme://host:port, without the stage."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
    timeout: float = 30,
) -> Reply:
    """One HTTP request over loopback; `body` is sent as JSON, `raw_body` as is."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    payload = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
    request_headers = dict(headers or {})
    if body is not None and raw_body is None:
        request_headers.setdefault("Content-Type", "application/json")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=payload, headers=request_headers)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def spawn(*arguments: str, command: list[str] | None = None) -> tuple[subprocess.Popen[str], Output]:
    """`lambda-auth ARGUMENTS` (run by `command`, the CLI's own by default) in its own process, its output (stdout
    and stderr) collected as it comes."""
    process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        [*(command or cli_command()), *arguments],
        cwd=ROOT,
        env=cli_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output()
    threading.Thread(target=output.collect, args=(process.stdout,), daemon=True).start()
    return process, output


def start_server(key_file: Path, *arguments: str, command: list[str] | None = None) -> RunningServer:
    """`lambda-auth serve --port 0` in its own process (run by `command`, as `spawn`); returns once its banner
    says it listens."""
    process, output = spawn("serve", "--port", "0", "--jwks", str(key_file), *arguments, command=command)

    def listening(lines: list[str]) -> bool:
        return any(line.startswith("Listening on ") for line in lines)

    if not output.wait_for(listening, START_TIMEOUT_SECONDS):
        process.kill()
        process.wait()
        pytest.fail(f"lambda-auth serve did not start:\n{output.text()}")
    banner = next(line for line in output.lines if line.startswith("Listening on "))
    match = re.match(r"Listening on (http://\S+)", banner)
    assert match, banner
    return RunningServer(base_url=match.group(1), key_file=key_file, process=process, output=output)


def stop_server(server: RunningServer) -> int:
    """SIGTERM, as a service manager stops it; the exit status."""
    server.process.terminate()
    try:
        return server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise


@contextlib.contextmanager
def own_server(tmp_path_factory: pytest.TempPathFactory, name: str, *arguments: str) -> Iterator[RunningServer]:
    """A `lambda-auth serve` with a key file (and so an outbox) of its own in a fresh folder; it must stop cleanly."""
    running = start_server(tmp_path_factory.mktemp(name) / "jwks.json", *arguments)
    try:
        yield running
    finally:
        status = stop_server(running)
        assert status == 0, f"the server did not stop cleanly ({status}):\n{running.output.text()}"


# Limits per source address well above a module's requests, which all come from 127.0.0.1.
GENEROUS_LIMITS = ("--parameter-overrides", "SignupMaxPerIp=1000", "LoginMaxFailuresPerIp=1000", "ResetMaxPerIp=1000")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One `lambda-auth serve` for the e2e session, with a key file it creates itself."""
    with own_server(tmp_path_factory, "server") as running:
        yield running
