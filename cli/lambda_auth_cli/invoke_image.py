"""The python3.13 image `sam local` invokes the functions in, built here where AWS's cannot be pulled.

Debian trixie's minimal root filesystem (debootstrap; trixie's python is 3.13) with AWS's runtime interface client
(awslambdaric, from PyPI, locked with hashes) behind /var/runtime/bootstrap, as in Lambda's own images; SAM CLI adds
its Runtime Interface Emulator and the function's layers. Its recipe is this module, the bootstrap and the lock (in
invoke-image/), and its tag carries their digest: a changed recipe builds a new image, an unchanged one is reused
from Docker's images or, where Docker lost them (a fresh engine in CI), from the tarball in the user's cache
(`$XDG_CACHE_HOME/lambda-auth`, by default ~/.cache/lambda-auth), which every clone on the machine shares.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import system_packages
from .console import CliError, note
from .docker_engine import docker

RECIPE_DIR = Path(__file__).resolve().parent / "invoke-image"
RECIPE = (Path(__file__).resolve(), RECIPE_DIR / "bootstrap", RECIPE_DIR / "requirements.txt")
REPOSITORY = "lambda-auth/python3.13"
# On the image, and so on each one SAM CLI builds from it (for the layers): those a rebuild leaves are pruned.
LABEL = "org.lambda-auth.invoke-image"
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
DEBIAN_ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}
WHEEL_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
# What Lambda's python runtime sets that the bootstrap does not (SAM CLI sets the rest).
IMAGE_SETTINGS = (
    "ENV LAMBDA_TASK_ROOT=/var/task",
    "ENV LAMBDA_RUNTIME_DIR=/var/runtime",
    "ENV LANG=C.UTF-8",
    "ENV TZ=:UTC",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "WORKDIR /var/task",
    f"LABEL {LABEL}=1",
)
# Whatever the functions never read: package caches and lists, documentation, translations.
TRIMMED = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info")


def name(architecture: str) -> str:
    """The image's name for `architecture` (x86_64 or arm64), as this recipe builds it."""
    digest = hashlib.sha256(b"".join(part.read_bytes() for part in RECIPE))
    return f"{REPOSITORY}:{architecture}-{digest.hexdigest()[:12]}"


def ensure(architecture: str, log_file: Path) -> str:
    """The image for `architecture`, imported into Docker, built first if no copy of it is found; its name."""
    if architecture not in DEBIAN_ARCHITECTURES:
        raise CliError(f"no invoke image for architecture {architecture!r}")
    image = name(architecture)
    if docker("image", "inspect", image).returncode == 0:
        return image
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lambda-auth"
    tarball = cache / f"invoke-image-{image.rpartition(':')[2]}.tar"
    if not tarball.is_file():
        _build(architecture, tarball, log_file)
    note(f"importing {tarball} into Docker as {image}")
    changes = [argument for setting in IMAGE_SETTINGS for argument in ("--change", setting)]
    imported = docker("import", *changes, str(tarball), image)
    if imported.returncode != 0:
        raise CliError(f"docker import failed: {imported.stderr.strip()}")
    # This repository's images of the same architecture that an older recipe built go.
    for other in docker("image", "ls", REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
        if other != image and other.rpartition(":")[2].startswith(f"{architecture}-"):
            docker("image", "rm", other)
    return image


def prune_derived() -> None:
    """Remove the untagged images SAM CLI left when it rebuilt its image of the layers on this one."""
    docker("image", "prune", "--force", "--filter", f"label={LABEL}")


def _build(architecture: str, tarball: Path, log_file: Path) -> None:
    if os.geteuid() != 0:
        raise CliError(
            "building the invoke image (debootstrap) needs root, once per machine; "
            "or use AWS's images where Docker can pull them (--images aws)"
        )
    if shutil.which("debootstrap") is None:
        system_packages.install(["debootstrap"], "building the invoke image")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    note(f"building the invoke image: Debian {SUITE} with python3.13 and awslambdaric (about 30 s; log: {log_file})")
    with tempfile.TemporaryDirectory(prefix="lambda-auth-rootfs-") as work, log_file.open("w") as log:

        def run(command: list[str]) -> None:
            if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode != 0:  # noqa: S603
                tail = log_file.read_text(errors="replace").strip().splitlines()[-5:]
                raise CliError(f"{command[0]} failed (log: {log_file}): " + " | ".join(tail))

        rootfs = Path(work) / "rootfs"
        runtime = rootfs / "var/runtime"
        arch = f"--arch={DEBIAN_ARCHITECTURES[architecture]}"
        run(["debootstrap", "--variant=minbase", "--include=python3", arch, SUITE, str(rootfs), MIRROR])
        if not (rootfs / "usr/bin/python3.13").is_file():
            raise CliError(f"Debian {SUITE}'s python is no longer 3.13: the invoke image needs another suite")
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--require-hashes", "--only-binary=:all:"]
        pip.append("--no-compile")  # python3.13 compiles them in the container; pip's python is another
        pip += ["--platform", WHEEL_PLATFORMS[architecture], "--python-version", "3.13", "--implementation", "cp"]
        run([*pip, "--target", str(runtime), "--requirement", str(RECIPE_DIR / "requirements.txt")])
        shutil.copy(RECIPE_DIR / "bootstrap", runtime / "bootstrap")
        (runtime / "bootstrap").chmod(0o755)
        (rootfs / "var/task").mkdir(exist_ok=True)
        (rootfs / "opt").mkdir(exist_ok=True)
        for path in TRIMMED:
            shutil.rmtree(rootfs / path, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.replace(tarball)
    for stale in tarball.parent.glob(f"invoke-image-{architecture}-*.tar"):
        if stale != tarball:
            stale.unlink()
