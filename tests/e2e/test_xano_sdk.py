"""The official Xano JS SDK (@xano/js-sdk, unchanged) against the local server, through Node's test runner."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.e2e.conftest import ROOT, RunningServer

pytestmark = pytest.mark.e2e

SDK_DIR = ROOT / "tests" / "e2e" / "sdk"
NODE_TIMEOUT_SECONDS = 120


def test_the_official_xano_sdk_signs_up_logs_in_reads_me_logs_out_and_sees_our_errors(server: RunningServer) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the Xano SDK test needs node (and npm to install the SDK)")
    if not (SDK_DIR / "node_modules" / "@xano" / "js-sdk").is_dir():
        pytest.skip("the SDK is not installed: `make test` runs `npm ci` in tests/e2e/sdk")
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "LAMBDA_AUTH_BASE_URL": server.base_url,
        "NO_PROXY": "127.0.0.1,localhost",  # axios honours proxy variables; loopback must not go through one
        "no_proxy": "127.0.0.1,localhost",
    }
    result = subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [node, "--test", "xano-sdk.test.mjs"],
        cwd=SDK_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "# fail 0" in result.stdout
