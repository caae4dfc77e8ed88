"""The Docker engine `sam local` runs its containers on: the one already running, or dockerd started here.

Nothing starts a daemon on CI's machines (Debian's docker.io starts none): as root, `running` installs Docker where
missing and runs dockerd for the block, in a session of its own, so that Ctrl-C at the terminal reaches only this
program, which has sam local remove its containers before the engine stops. `DockerUnavailable`: Docker cannot run
here at all (no engine, no root or apt-get, a dockerd that will not start), as opposed to a failure.
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
from typing import Any

from . import system_packages
from .console import CliError, note

START_SECONDS = 60
STOP_SECONDS = 30
SIOCGIFADDR = 0x8915  # Linux's ioctl for an interface's address


class DockerUnavailable(CliError):
    """Docker cannot run on this machine; the message says why."""


def docker(*arguments: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments
        ["docker", *arguments],  # noqa: S607 - the docker CLI from PATH
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stop(process: subprocess.Popen[Any], seconds: float) -> None:
    process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def answers() -> bool:
    try:
        return docker("version", "--format", "{{.Server.Version}}", timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):  # no docker CLI, or an engine that hangs
        return False


def bridge_gateway() -> str:
    """This machine's IPv4 address on Docker's default bridge: where containers reach it."""
    inspected = docker("network", "inspect", "bridge", "--format", "{{json .}}", timeout=30)
    if inspected.returncode != 0:
        last = (inspected.stderr.strip().splitlines() or ["no output"])[-1]
        raise CliError(f"docker network inspect bridge failed: {last}")
    network = json.loads(inspected.stdout)
    for config in (network.get("IPAM") or {}).get("Config") or []:
        gateway = str(config.get("Gateway") or "")
        if gateway.count(".") == 3:
            return gateway
    # Docker 20.10 names no gateway for its default bridge: the address is the interface's.
    interface = (network.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            raise CliError(
                f"Docker's bridge {interface} has no IPv4 address on this machine"
                " (the engine runs elsewhere: a VM, another host), so its containers cannot reach a server here"
            ) from None
    return socket.inet_ntoa(answer[20:24])


@contextmanager
def running(log_file: Path) -> Iterator[None]:
    """A Docker engine that answers for the duration of the block: the running one, else dockerd run here."""
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
    try:  # on the way out, dockerd stops the containerd it started
        deadline = time.monotonic() + START_SECONDS
        while daemon.poll() is None and not answers():
            if time.monotonic() >= deadline:
                raise DockerUnavailable(f"dockerd did not answer within {START_SECONDS} s (its log: {log_file})")
            time.sleep(0.5)
        if daemon.returncode is not None:
            last = (log_file.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise DockerUnavailable(f"dockerd stopped as it started: {last}")
        yield
    finally:
        stop(daemon, STOP_SECONDS)
