"""The locks, the layer's and the local invoke image's: every package pinned with hashes, the direct
dependencies at their listed versions, and the development environment on the same versions as the layer."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYER = ROOT / "layers" / "auth"
INVOKE_IMAGE = ROOT / "cli" / "lambda_auth_cli" / "invoke-image"
# Each lock, and packages it must hold.
LOCKS = {LAYER: {"pynamodb", "botocore", "cryptography", "cffi"}, INVOKE_IMAGE: {"awslambdaric", "simplejson"}}
# One entry: "name==version", an optional marker, then its hashes on continuation lines.
ENTRY = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)[^\n]*((?:\n\s+--hash=\S+(?: \\)?)*)", re.MULTILINE)


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(folder: Path = LAYER) -> dict[str, tuple[str, list[str]]]:
    entries = ENTRY.findall((folder / "requirements.txt").read_text())
    return {normal(name): (version, re.findall(r"--hash=(\S+)", hashes)) for name, version, hashes in entries}


@pytest.mark.parametrize("folder", LOCKS, ids=["layer", "invoke-image"])
def test_the_lock_pins_every_package_with_sha256_hashes(folder: Path) -> None:
    packages = locked(folder)
    assert LOCKS[folder] <= set(packages)
    for name, (_, hashes) in packages.items():
        assert hashes, name
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", value) for value in hashes), name


@pytest.mark.parametrize("folder", LOCKS, ids=["layer", "invoke-image"])
def test_every_direct_dependency_is_locked_at_the_version_it_lists(folder: Path) -> None:
    listed = re.findall(
        r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", (folder / "requirements.in").read_text(), flags=re.MULTILINE
    )
    packages = locked(folder)
    assert listed
    for name, version in listed:
        assert packages[normal(name)][0] == version, name


def test_the_development_environment_has_every_locked_version() -> None:
    installed = {name: importlib.metadata.version(name) for name in locked()}
    assert installed == {name: version for name, (version, _) in locked().items()}
