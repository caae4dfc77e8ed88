"""Cold starts: a fresh interpreter that imports a function's handler and answers one event.

That is what Lambda's init phase plus a first invocation cost, less the sandbox itself.
Each process gets only the environment a function has in Lambda (the AUTH_*, AWS_* and
POWERTOOLS_* variables), and the time is taken from outside, from spawn to exit.

Two kinds: the development environment's (this interpreter, its site-packages, bytecode
cached) and the artifact's (`lambda_auth_cli.artifact`: python3.13 with only the build on
its path, writing no bytecode), which is what Lambda runs.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The child: put the function's folder first on the path, as Lambda does, import its
# handler, and answer one event. A failure exits non-zero and stops the bench.
HANDLER_PROGRAM = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
answer = app.lambda_handler(json.loads(sys.argv[2]), Context())
assert answer.get("principalId") or answer.get("statusCode") == 200, answer
"""

# The authorizer's floor: the token library alone, imported and nothing else.
# The authorizer's floor: jwcrypto's JWE imported, and the token's session read with one
# DynamoDB GetItem over http.client (the request the authorizer makes, unsigned: the bench's
# moto checks no signature), from the endpoint and table in the function's variables.
SESSION_READ_PROGRAM = """
import http.client, json, os, urllib.parse
import jwcrypto.jwe
endpoint = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=5)
body = {{"TableName": os.environ["AUTH_TABLE_NAME"], "Key": {{"pk": {{"S": "{key}"}}}}, "ConsistentRead": True}}
headers = {{
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.GetItem",
    "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64,
}}
connection.request("POST", "/", json.dumps(body), headers)
answer = connection.getresponse()
assert answer.status == 200 and "Item" in json.loads(answer.read()), answer.status
"""

# What a process inherits besides the function's own variables.
_BASE_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def environment(function_variables: Mapping[str, str]) -> dict[str, str]:
    """A function's environment: its own variables, and only the basics of this process's."""
    base = {name: os.environ[name] for name in _BASE_VARIABLES if name in os.environ}
    return {**base, **function_variables}


def children_cpu() -> float:
    """The CPU seconds of every child process that has ended so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: Sequence[str], env: Mapping[str, str]) -> float:
    """Run `command` to its end, its output discarded; the CPU seconds it took."""
    before = children_cpu()
    subprocess.run(  # noqa: S603 - an interpreter of this machine, the repository's own code
        list(command),
        env=dict(env),
        stdout=subprocess.DEVNULL,  # the functions' own log lines
        check=True,
    )
    return children_cpu() - before


def venv_handler(function_dir: Path, event: dict[str, Any]) -> list[str]:
    """The command for one cold start, in the development environment, of the function in `function_dir`."""
    return [sys.executable, "-c", HANDLER_PROGRAM, str(function_dir), json.dumps(event)]


def venv_program(program: str) -> list[str]:
    """The command that runs `program` in the development environment."""
    return [sys.executable, "-c", program]


def imported_modules(command: Sequence[str], env: Mapping[str, str]) -> set[str]:
    """Every module `command` imports, as the `-X importtime` in it reports them."""
    answer = subprocess.run(  # noqa: S603 - an interpreter of this machine, the repository's own code
        list(command),
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    # Lines read "import time: <self us> | <cumulative us> | <indented module name>".
    return {
        line.rpartition("|")[2].strip()
        for line in answer.stderr.splitlines()
        if line.startswith("import time:") and not line.rstrip().endswith("imported package")
    }


def offending(modules: set[str], unused: tuple[str, ...]) -> list[str]:
    """The modules of `modules` that are, or are inside, a package of `unused`."""
    return sorted(name for name in modules if any(name == top or name.startswith(top + ".") for top in unused))


def libraries(modules: set[str], layer: Path) -> list[str]:
    """The layer's third-party packages among `modules` (the layer's own package left out)."""
    tops = {name.split(".")[0] for name in modules} - {"lambda_auth"}
    shipped = {entry.name.split(".")[0] for entry in layer.iterdir() if not entry.name.endswith(".dist-info")}
    return sorted(top for top in tops if top in shipped and not top.startswith("_"))
