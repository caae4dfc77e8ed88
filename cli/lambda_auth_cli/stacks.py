"""A deployed lambda-auth stack, found by name: its outputs and parameters (one DescribeStacks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stack:
    name: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    @classmethod
    def describe(cls, name: str, client: Any = None) -> Stack:
        """The stack as CloudFormation describes it, with the credentials and region the AWS CLI would use."""
        if client is None:
            import boto3

            client = boto3.client("cloudformation")
        stack = client.describe_stacks(StackName=name)["Stacks"][0]
        outputs = {item["OutputKey"]: str(item["OutputValue"]) for item in stack.get("Outputs", [])}
        parameters = {item["ParameterKey"]: str(item["ParameterValue"]) for item in stack.get("Parameters", [])}
        return cls(name, outputs, parameters)

    def output(self, key: str) -> str:
        """One output, e.g. TokenKeysSecretArn; LookupError naming it when the stack has none."""
        if key not in self.outputs:
            raise LookupError(f"stack {self.name} has no output {key}")
        return self.outputs[key]
