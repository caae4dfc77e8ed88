"""The files a `lambda-auth sam-local` run writes for SAM CLI: the env vars file in SAM's format, SAM
CLI's config for start-api, start-lambda and invoke, the moto's key, owner-only, for a shell to
source, and the outbox, owner-only too; all removed when the run stops. And its output: sam local's
request log without query strings, where a token may travel. (The tests in tests/sam_local run SAM
CLI on them, in Docker.)"""

from __future__ import annotations

import json
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from lambda_auth_cli import local_aws
from lambda_auth_cli.sam_local import RunFiles, invoke_hint, without_query_strings

VARIABLES = {"AWS_ENDPOINT_URL_DYNAMODB": "http://172.17.0.1:40123", "AUTH_TABLE_NAME": "lambda-auth"}
FUNCTIONS = {
    "AuthorizerFunction": {"AUTH_SESSION_CHECK_SECONDS": "0"},
    "PasswordResetFunction": {"AWS_ENDPOINT_URL_LAMBDA": "http://172.17.0.1:40124"},
}
OPTIONS: dict[str, object] = {
    "template_file": "/project/.aws-sam/native/build/template.yaml",
    "invoke_image": ["lambda-auth/python3.13:x86_64-0123456789ab"],
    "skip_pull_image": True,
    "warm_containers": "LAZY",
}


def written(folder: Path) -> tuple[RunFiles, local_aws.LocalCredentials]:
    files, key = RunFiles(folder / "state"), local_aws.LocalCredentials.fresh()
    files.write(VARIABLES, OPTIONS, key, FUNCTIONS)
    return files, key


def test_the_env_vars_file_sets_variables_for_every_function_and_for_some_and_holds_no_key(tmp_path: Path) -> None:
    files, key = written(tmp_path)
    # SAM's format: "Parameters" for every function, a function's logical id for it alone (which wins).
    assert json.loads(files.env_vars.read_text()) == {"Parameters": VARIABLES, **FUNCTIONS}
    assert key.secret_access_key not in files.env_vars.read_text() + files.config.read_text()


def test_the_config_gives_start_api_start_lambda_and_invoke_the_same_options_but_warm_containers(
    tmp_path: Path,
) -> None:
    files, _ = written(tmp_path)
    config = tomllib.loads(files.config.read_text())
    start_api = config["default"]["local_start_api"]["parameters"]
    start_lambda = config["default"]["local_start_lambda"]["parameters"]
    invoke = config["default"]["local_invoke"]["parameters"]
    assert start_api == start_lambda == OPTIONS
    assert invoke == {name: value for name, value in OPTIONS.items() if name != "warm_containers"}


def test_the_key_file_is_the_owners_alone_and_a_shell_sourcing_it_gets_the_key(tmp_path: Path) -> None:
    files, key = written(tmp_path)
    assert stat.S_IMODE(files.credentials.stat().st_mode) == 0o600
    script = f'export AWS_PROFILE=mine; . "{files.credentials}" && echo "$AWS_ACCESS_KEY_ID ${{AWS_PROFILE:-}}"'
    shown = subprocess.run(  # noqa: S603 - bash from PATH, our own script
        ["bash", "-c", script],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split() == [key.access_key_id]  # and no profile left to outrank it


def test_the_outbox_starts_empty_and_is_the_owners_alone(tmp_path: Path) -> None:
    files, _ = written(tmp_path)
    assert files.outbox == files.folder / "outbox.jsonl"
    assert files.outbox.read_text() == ""
    assert stat.S_IMODE(files.outbox.stat().st_mode) == 0o600


def test_stopping_removes_the_files(tmp_path: Path) -> None:
    files, _ = written(tmp_path)
    files.outbox.write_text('{"to": "ada@example.com"}\n')
    files.remove()
    assert {files.env_vars, files.config, files.credentials, files.outbox} == set(files.all)
    assert not [path for path in files.all if path.exists()]


def test_the_invoke_command_sources_the_key_in_a_subshell_and_uses_the_config(tmp_path: Path) -> None:
    files, _ = written(tmp_path)
    command = invoke_hint(files, "MeFunction", "events/me.json")
    assert command.startswith(f"(. {files.folder}/credentials.sh && ") and command.endswith(")")
    assert f"local invoke MeFunction -e events/me.json --config-file {files.config}" in command


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            '127.0.0.1 - - [28/Nov/2026 22:53:52] "GET /auth/me?authtoken=eyJ.a.b-c_d HTTP/1.1" 200 -',
            '127.0.0.1 - - [28/Nov/2026 22:53:52] "GET /auth/me HTTP/1.1" 200 -',
        ),
        # werkzeug colours a refused request's line
        (
            '"\x1b[31m\x1b[1mGET /auth/me?x=1&authtoken=t HTTP/1.1\x1b[0m" 403 -',
            '"\x1b[31m\x1b[1mGET /auth/me HTTP/1.1\x1b[0m" 403 -',
        ),
        ('"POST /auth/login HTTP/1.1" 200 -', '"POST /auth/login HTTP/1.1" 200 -'),
    ],
    ids=["query", "coloured", "none"],
)
def test_sam_locals_request_log_is_shown_without_query_strings(line: str, shown: str) -> None:
    assert without_query_strings(line) == shown
