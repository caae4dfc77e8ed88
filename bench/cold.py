"""Cold starts: a fresh interpreter that imports a function's handler and answers one event.

That is what Lambda's init phase plus a first invocation cost, less the sandbox itself.
Each process gets only the environment a function has in Lambda (the AUTH_*, AWS_* and
POWERTOOLS_* variables), and the time is taken from outside, from spawn to exit.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
from collections.abc import Mapping
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
JWE_IMPORT_PROGRAM = "import jwcrypto.jwe"

# The handler, the layer, and the interpreter's own start-up hooks.
_NOT_LIBRARIES = {"app", "lambda_auth", "sitecustomize", "usercustomize"}

# What a process inherits besides the function's own variables.
_BASE_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def environment(function_variables: Mapping[str, str]) -> dict[str, str]:
    """A function's environment: its own variables, and only the basics of this process's."""
    base = {name: os.environ[name] for name in _BASE_VARIABLES if name in os.environ}
    return {**base, **function_variables}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_handler(function_dir: Path, event: dict[str, Any], env: Mapping[str, str]) -> float:
    """One cold start of the function in `function_dir`, answering `event`; the CPU seconds it took."""
    before = _children_cpu()
    subprocess.run(  # noqa: S603 - this interpreter, this repository's handlers
        [sys.executable, "-c", HANDLER_PROGRAM, str(function_dir), json.dumps(event)],
        env=dict(env),
        stdout=subprocess.DEVNULL,  # the functions' own log lines
        check=True,
    )
    return _children_cpu() - before


def run_program(program: str, env: Mapping[str, str]) -> float:
    """A fresh interpreter running `program`; the CPU seconds it took."""
    before = _children_cpu()
    subprocess.run([sys.executable, "-c", program], env=dict(env), check=True)  # noqa: S603 - this interpreter
    return _children_cpu() - before


def imported_modules(function_dir: Path, event: dict[str, Any], env: Mapping[str, str]) -> set[str]:
    """Every module a cold start imports, as `python -X importtime` reports them."""
    answer = subprocess.run(  # noqa: S603 - this interpreter, this repository's handlers
        [sys.executable, "-X", "importtime", "-c", HANDLER_PROGRAM, str(function_dir), json.dumps(event)],
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


def libraries(modules: set[str]) -> list[str]:
    """The installed third-party packages among `modules` (optional imports that failed are left out)."""
    tops = {name.split(".")[0] for name in modules} - set(sys.stdlib_module_names) - _NOT_LIBRARIES
    return sorted(top for top in tops if not top.startswith("_") and importlib.util.find_spec(top) is not None)
