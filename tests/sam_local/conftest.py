"""sam local as SAM users run it, in Docker: `lambda-auth sam-local` (what `make sam-local` runs) in a
process of its own, serving `sam local start-api` against its moto, and `sam local invoke` run against
the same moto with the command its banner and the README show.

`make sam-local-test` runs these, not `make test`: they need Docker (as root, dockerd is started here
and stopped at the end) and, the first time on a machine, root to build the invoke image. They are
skipped, with the reason, only where Docker cannot run at all.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambda_auth import aws
from lambda_auth_cli import docker_engine, sam_local
from tests.conftest import reset_code_in
from tests.e2e import conftest as e2e
from tests.e2e.conftest import ROOT, Output, Reply, cli_environment, spawn

# The first run on a machine builds the invoke image (debootstrap) before sam local starts.
START_TIMEOUT_SECONDS = 600
STOP_TIMEOUT_SECONDS = 90
INVOKE_TIMEOUT_SECONDS = 180
# A reset's mail comes from the mailer's container, under start-lambda: the first one starts it.
MAIL_TIMEOUT_SECONDS = 120
# A route's first request waits for sam local to start its containers, one after the other: the authorizer's,
# then the function's. That took 19 s for the first GET /auth/me on a busy two-CPU machine (8 to 12 s for one
# container), over the e2e client's 30 s at times. So a request here may take as long as an invoke: the bound
# is for a hang, not for a slow start.
REQUEST_TIMEOUT_SECONDS = INVOKE_TIMEOUT_SECONDS


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A Docker engine for the session: the running one, or dockerd started (and stopped) here."""
    with ExitStack() as stack:
        try:
            stack.enter_context(docker_engine.running(tmp_path_factory.mktemp("docker") / "dockerd.log"))
        except docker_engine.DockerUnavailable as reason:
            pytest.skip(f"Docker cannot run here: {reason}")
        yield


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SamLocal:
    """A running `lambda-auth sam-local`: sam local start-api's base URL, its state folder, its output."""

    base_url: str
    files: sam_local.RunFiles
    process: subprocess.Popen[str]
    output: Output
    secrets: list[str] = field(default_factory=list)  # what its output must never show: tokens, the moto's key

    def invoke(self, function: str, event: str) -> Any:
        """`sam local invoke FUNCTION -e EVENT` against this run, as its banner shows it; the function's answer."""
        command = sam_local.invoke_hint(self.files, function, event)
        done = subprocess.run(  # noqa: S603 - the banner's own command line
            ["bash", "-c", command],  # noqa: S607
            cwd=ROOT,
            env=cli_environment(),
            capture_output=True,
            text=True,
            timeout=INVOKE_TIMEOUT_SECONDS,
            check=False,
        )
        assert done.returncode == 0, f"{command} failed:\n{done.stderr[-4000:]}"
        # SAM CLI writes the function's answer on stdout, its own and the function's logs on stderr.
        return json.loads(done.stdout.strip().splitlines()[-1])

    def lambda_url(self) -> str:
        """Where the containers call Lambda's Invoke API (start-lambda's guard), as the env vars file tells them."""
        variables = json.loads(self.files.env_vars.read_text())
        return str(variables["PasswordResetFunction"]["AWS_ENDPOINT_URL_LAMBDA"])

    def moto_key(self) -> aws.Credentials:
        """The run's key, from the file that hands it to SAM CLI."""
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in self.files.credentials.read_text().splitlines()
            if line.startswith("export ")
        )
        return aws.Credentials(exported["AWS_ACCESS_KEY_ID"], exported["AWS_SECRET_ACCESS_KEY"])

    def processes(self, sam_command: str) -> list[int]:
        """The ids of this run's `sam local SAM_COMMAND` processes."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError):
                parent = int(stat.read_text().rpartition(")")[2].split()[1])
                arguments = (stat.parent / "cmdline").read_bytes().split(b"\0")
                if parent == self.process.pid and sam_command.encode() in arguments:
                    found.append(int(stat.parent.name))
        return found

    def mail_to(self, email: str) -> list[dict[str, str]]:
        """The messages to `email` in the run's outbox, oldest first."""
        lines = self.files.outbox.read_text().splitlines()
        return [message for message in map(json.loads, lines) if message["to"] == email]

    def reset_codes(self, email: str, count: int = 1) -> list[str]:
        """The codes of the reset mail to `email`, once `count` messages have come (the mailer runs after
        the request has answered); each code is added to what the output must never show."""
        deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
        while len(messages := self.mail_to(email)) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(messages)} of {count} reset mails to {email} within {MAIL_TIMEOUT_SECONDS} s")
            time.sleep(0.2)
        codes = []
        for message in messages:
            assert message["subject"] == "Your password reset code", message["subject"]
            codes.append(reset_code_in(message["text"]))
        self.secrets.extend(codes)
        return codes


def _socket_inodes(pid: int) -> set[str]:
    links = (os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir())
    return {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}


def tcp_ports_listened_by(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (Linux's /proc: its sockets, and the table of its network's)."""
    inodes = _socket_inodes(pid)
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def unix_sockets_listened_by(pid: int) -> set[Path]:
    """The paths of the Unix sockets process `pid` listens on."""
    inodes = _socket_inodes(pid)
    paths = set()
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and fields[6] in inodes and int(fields[3], 16) & 0x10000:  # __SO_ACCEPTCON: listening
            paths.add(Path(fields[7]))
    return paths


def moto_secret_key(files: sam_local.RunFiles) -> str:
    """The moto's secret key for the run, from the file that hands it to SAM CLI."""
    for line in files.credentials.read_text().splitlines():
        if line.startswith("export AWS_SECRET_ACCESS_KEY="):
            return line.partition("=")[2]
    raise AssertionError(f"{files.credentials} holds no secret key")


def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
) -> Reply:
    """One HTTP request (`tests.e2e.conftest.call`), with the time sam local may take to start containers."""
    return e2e.call(url, method, body, headers, raw_body, timeout=REQUEST_TIMEOUT_SECONDS)


def _answers(base_url: str) -> bool:
    try:
        call(f"{base_url}/")
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def sam(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamLocal]:
    """One `lambda-auth sam-local` for the session, on a free port, with a state folder of its own."""
    port = free_port()
    files = sam_local.RunFiles(tmp_path_factory.mktemp("sam-local"))
    process, output = spawn("sam-local", "--port", str(port), "--state-dir", str(files.folder))
    running = SamLocal(f"http://127.0.0.1:{port}", files, process, output)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _answers(running.base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"lambda-auth sam-local did not start:\n{output.text()[-6000:]}")
        time.sleep(1)
    running.secrets.append(moto_secret_key(files))
    try:
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(STOP_TIMEOUT_SECONDS)
        assert status == 0, f"lambda-auth sam-local did not stop cleanly ({status}):\n{output.text()[-6000:]}"
        shown = sum(secret in output.text() for secret in running.secrets)
        assert shown == 0, f"its output shows {shown} of the run's tokens and key"  # which, it does not say
        # It leaves nothing behind: not the moto's key, not the outbox's codes, not start-lambda's socket, not a
        # container.
        assert not [path for path in files.all if path.exists()]
        sockets = re.findall(r"start-lambda on its socket (\S+)", output.text())
        assert sockets and not [path for path in sockets if Path(path).parent.exists()]
        containers = subprocess.run(
            ["docker", "ps", "--all", "--quiet", "--filter", "label=sam.cli.container.type=lambda"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        )
        assert containers.stdout.strip() == "", "sam local's containers outlived it"
