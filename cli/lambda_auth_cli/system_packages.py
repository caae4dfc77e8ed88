"""Debian packages the local tooling installs where they are missing: as root, with apt-get, as CI runs.
`make sam-local` and `make sam-local-test` set up what they need (Docker, debootstrap) like every other target.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from .console import CliError, note


def can_install() -> bool:
    """Whether this process may install Debian packages: root, with apt-get."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(packages: Sequence[str], why: str) -> None:
    """Install `packages` with apt-get, saying why; a CliError, naming the step, if that fails."""
    if not can_install():
        raise CliError(f"{why} needs {', '.join(packages)}: install it (as root, with apt-get on Debian)")
    note(f"installing {', '.join(packages)} with apt-get ({why})")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    for command in (["apt-get", "update", "-qq"], install_command):
        done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            last = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
            raise CliError(f"{' '.join(command[:2])} failed: {last}")
