"""The Docker engine `sam local` runs its containers on: the one already running, or dockerd started here.

Debian's docker.io starts no daemon by itself, and nothing starts one on the machines this
project's CI runs on. So as root, where the engine does not answer, `running` installs
Docker with apt-get if it is missing, starts dockerd, and stops it on the way out; an
engine that was already running is used and left running. dockerd runs in a session of
its own: Ctrl-C at the terminal reaches only this program, which has sam local remove its
containers before the engine stops.

`DockerUnavailable` means Docker cannot run here at all (no engine, and no root or
apt-get to install one; a dockerd that will not start), as opposed to a failure (an
installation that fails, for one).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import system_packages
from .console import CliError, note

START_SECONDS = 60
STOP_SECONDS = 30
SIOCGIFADDR = 0x8915  # Linux's ioctl for an interface's address


class DockerUnavailable(CliError):
    """Docker cannot run on this machine; the message says why."""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _docker(*arguments: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the docker CLI from PATH, with fixed arguments
        ["docker", *arguments],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def answers() -> bool:
    """Whether a Docker engine answers the docker CLI."""
    if shutil.which("docker") is None:
        return False
    try:
        return _docker("version", "--format", "{{.Server.Version}}", timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def bridge_gateway() -> str:
    """This machine's IPv4 address on Docker's default bridge: where containers reach it."""
    inspected = _docker("network", "inspect", "bridge", "--format", "{{json .}}")
    if inspected.returncode != 0:
        raise CliError(f"docker network inspect bridge failed: {_last_line(inspected.stderr)}")
    network = json.loads(inspected.stdout)
    for config in (network.get("IPAM") or {}).get("Config") or []:
        gateway = str(config.get("Gateway") or "")
        if gateway.count(".") == 3:
            return gateway
    # Docker 20.10 names no gateway for its default bridge: the address is the interface's.
    interface = (network.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    address = _interface_address(interface)
    if address is None:
        raise CliError(
            f"Docker's bridge {interface} has no IPv4 address on this machine"
            " (the engine runs elsewhere: a VM, another host), so its containers cannot reach a server here"
        )
    return address


def _interface_address(interface: str) -> str | None:
    """The IPv4 address of a network interface of this machine (Linux), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            request = struct.pack("256s", interface.encode()[:15])
            answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
        except OSError:
            return None
    return socket.inet_ntoa(answer[20:24])


@contextmanager
def running(log_file: Path) -> Iterator[None]:
    """A Docker engine that answers for the duration of the block: the running one, else dockerd
    started (and stopped) here, as root, Docker installed first where it is missing."""
    if answers():
        yield
        return
    if os.environ.get("DOCKER_HOST"):
        raise CliError(f"the Docker engine at DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer")
    if os.geteuid() != 0:
        reason = "the Docker engine does not answer"
        if Path("/var/run/docker.sock").exists():
            reason += f" (is {os.environ.get('USER', 'this user')} in the docker group?)"
        raise DockerUnavailable(f"{reason}, and only root can start dockerd here")
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        if not system_packages.can_install():
            raise DockerUnavailable("Docker is not installed, and there is no apt-get to install it with")
        system_packages.install(["docker.io"], "running sam local's containers")  # a failure fails
    daemon = _start(log_file)
    try:
        yield
    finally:
        _stop(daemon)


def _start(log_file: Path) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    note(f"starting dockerd (its log: {log_file}); it stops with this command")
    with log_file.open("ab") as log:
        daemon = subprocess.Popen(
            ["dockerd"],  # noqa: S607 - Debian's dockerd, from PATH
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise DockerUnavailable(
                f"dockerd stopped as it started: {_last_line(log_file.read_text(errors='replace'))}"
            )
        if answers():
            return daemon
        time.sleep(0.5)
    _stop(daemon)
    raise DockerUnavailable(f"dockerd did not answer within {START_SECONDS} s (its log: {log_file})")


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    """Stop the dockerd started here (it stops the containerd it started)."""
    if daemon.poll() is not None:
        return
    daemon.terminate()
    try:
        daemon.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
