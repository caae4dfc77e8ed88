"""Schema-driven fuzzing: schemathesis sends what openapi.yaml allows, and much it does not,
to the local server; no answer may be a 5xx or fall outside the documented shapes.

The fuzzer has a server of its own: its signups, failed logins and reset requests all come
from 127.0.0.1 and would spend the per-address limits the other modules' server counts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningServer, own_server

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with own_server(tmp_path_factory, "fuzz") as running:
        yield running


def test_fuzzing_the_api_finds_no_server_error_and_no_undocumented_answer(server: RunningServer) -> None:
    schemathesis = Path(sys.executable).with_name("st")
    result = subprocess.run(  # noqa: S603 - the venv's schemathesis, fixed arguments
        [
            str(schemathesis),
            "run",
            str(ROOT / "openapi.yaml"),
            "--url",
            server.base_url,
            "--checks",
            CHECKS,
            "--max-examples",
            "40",
            "--seed",
            "20261128",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert "generated" in summary and " passed" in summary
