"""The processes the bench starts, each on 127.0.0.1 and each stopped when the bench ends:
moto's server (DynamoDB and Secrets Manager) and `lambda-auth serve`.

moto runs in a process of its own, as DynamoDB runs on machines of its own: in the
bench's process it would compete for the interpreter lock with the code being timed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    """A port that nothing listens on now (the OS's choice for a port-0 bind)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} before it listened")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is not open yet
    raise RuntimeError(f"{name} did not listen on {HOST}:{port} within {START_TIMEOUT_SECONDS:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server in a process of its own; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - this interpreter, moto's own entry point
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(port, process, "moto's server")
        yield f"http://{HOST}:{port}"
    finally:
        _stop(process)


@contextmanager
def local_api(executable: Path, key_file: Path, env: Mapping[str, str]) -> Iterator[int]:
    """`lambda-auth serve` on a free port, its data in the DynamoDB that `env` names; yields the port."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - the project's own console script
        [str(executable), "serve", "--host", HOST, "--port", str(port), "--jwks", str(key_file)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,  # one access-log line per request
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(port, process, "lambda-auth serve")
        yield port
    finally:
        _stop(process)
