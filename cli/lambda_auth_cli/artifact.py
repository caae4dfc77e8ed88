"""The built artifact (`make artifact`: `sam build` for this machine's architecture into .aws-sam/native, the
deployed template and lock with wheels this machine loads), run as Lambda runs it, for the artifact test and bench.

A function runs in a fresh python3.13, the one that compiled the layer's bytecode, with Lambda's path alone: its
folder, the layer's python/ folder, the standard library. `-I -S` keep out the PYTHON* variables and every
site-packages, so a dependency missing from the layer fails here as in Lambda; `-B` writes no bytecode, as on
Lambda's read-only filesystem (what the build did not compile, each start compiles). `lambda_variables` are those
Lambda adds to the environment, which libraries read to tell that they run in Lambda.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import yaml

from .console import CliError

NATIVE = Path(__file__).resolve().parents[2] / ".aws-sam" / "native"  # where `make artifact` builds

# The child: Lambda's path, the handler imported, one event answered; its answer (or Lambda's error object) goes
# as JSON to the file argv[5] names, the functions' own log lines to stdout.
INVOKE_PROGRAM = """
import importlib, json, sys
function_dir, layer, handler, event, answer_file = sys.argv[1:6]
sys.path[:0] = [function_dir, layer]
class Context:
    function_name = sys.argv[6]
    memory_limit_in_mb = int(sys.argv[7])
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    def get_remaining_time_in_millis(self):
        return 10000
module, _, name = handler.rpartition(".")
try:
    answer = getattr(importlib.import_module(module), name)(json.loads(event), Context())
except Exception as error:
    answer = {"errorType": type(error).__name__, "errorMessage": str(error)}
with open(answer_file, "w") as out:
    json.dump(answer, out)
"""

ISOLATED = ("-I", "-S", "-B")


class ArtifactMissing(CliError):
    """No build in .aws-sam/native: `make artifact` makes one."""


@dataclass(frozen=True)
class Function:
    code_dir: Path
    handler: str
    memory_mb: int


@dataclass(frozen=True)
class Artifact:
    """A `sam build` output folder, the python3.13 that runs it, and the architecture it was built for."""

    build_dir: Path
    python: Path
    architecture: str  # the template's Architecture parameter: x86_64 or arm64

    @classmethod
    def native(cls) -> Artifact:
        """The build `make artifact` made for this machine."""
        runtime = NATIVE / "runtime"
        if not runtime.is_file():
            raise ArtifactMissing(f"no artifact in {NATIVE}: run `make artifact`")
        architecture = (NATIVE / "architecture").read_text().strip()
        return cls(NATIVE / "build", Path(runtime.read_text().strip()), architecture)

    @cached_property
    def template(self) -> dict[str, Any]:
        """The built template: plain YAML, intrinsic functions in their long form."""
        return cast(dict[str, Any], yaml.safe_load((self.build_dir / "template.yaml").read_text()))

    @property
    def layer(self) -> Path:
        """The layer's python/ folder, which Lambda mounts as /opt/python."""
        (content,) = (
            resource["Properties"]["ContentUri"]
            for resource in self.template["Resources"].values()
            if resource["Type"] == "AWS::Serverless::LayerVersion"
        )
        return self.build_dir / str(content) / "python"

    @cached_property
    def functions(self) -> dict[str, Function]:
        default_memory = self.template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
        functions: dict[str, Function] = {}
        for name, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::Serverless::Function":
                properties = resource["Properties"]
                memory = int(properties.get("MemorySize", default_memory))
                functions[name] = Function(self.build_dir / properties["CodeUri"], properties["Handler"], memory)
        return functions

    def invoke_command(
        self, logical_id: str, event: Mapping[str, Any], answer_file: Path, options: Sequence[str] = ()
    ) -> list[str]:
        """The command for a cold start of `logical_id` answering `event`; `options` (`-X importtime`) go to python."""
        function = self.functions[logical_id]
        code = [str(function.code_dir), str(self.layer), function.handler, json.dumps(event), str(answer_file)]
        return [str(self.python), *ISOLATED, *options, "-c", INVOKE_PROGRAM, *code, logical_id, str(function.memory_mb)]

    def program_command(self, program: str) -> list[str]:
        """The command that runs `program` with the layer on the path, as a function has it."""
        return [str(self.python), *ISOLATED, "-c", f"import sys\nsys.path[:0] = [{str(self.layer)!r}]\n{program}"]

    def invoke(self, logical_id: str, event: Mapping[str, Any], env: Mapping[str, str], workdir: Path) -> Any:
        """One cold start of `logical_id` answering `event`: the handler's answer, or Lambda's error object."""
        answer_file = workdir / f"answer-{secrets.token_hex(4)}.json"
        command = self.invoke_command(logical_id, event, answer_file)
        # The artifact's own interpreter and handlers; the functions' log lines are not wanted here.
        subprocess.run(command, env=dict(env), stdout=subprocess.DEVNULL, check=True)  # noqa: S603
        try:
            return json.loads(answer_file.read_text())
        finally:
            answer_file.unlink()

    def lambda_variables(self, logical_id: str) -> dict[str, str]:
        """What Lambda itself adds to the function's environment."""
        function = self.functions[logical_id]
        return {
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "_HANDLER": function.handler,
        }
