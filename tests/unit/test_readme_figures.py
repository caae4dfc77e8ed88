"""The README's figures about the stack come from template.yaml: counts of alarms and log groups,
what each function's role may do, and the KMS grants a customer-managed key adds.

The two tables sit between marker comments; when the template changes, the failing test prints
the table as it must now read, to paste between them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lambda_auth_cli.template import PROJECT_ROOT

from .rendering import of_type, render, translated

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
README = PROJECT_ROOT / "README.md"
# Resources a role's statements name, by how the README names them.
NAMED = {
    json.dumps({"Fn::GetAtt": ["UsersTable", "Arn"]}): "the table",
    json.dumps({"Fn::Sub": ["${secretArn}", {"secretArn": {"Ref": "TokenKeys"}}]}): "the key secret",
    json.dumps({"Fn::GetAtt": ["PasswordResetMailerFailures", "Arn"]}): "the mailer's failure queue",
    json.dumps(
        {
            "Fn::Sub": [
                "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*",
                {"functionName": {"Ref": "PasswordResetMailerFunction"}},
            ]
        }
    ): "the mailer",
    json.dumps("*"): "any resource",
}
SERVICES = {"dynamodb": "DynamoDB", "secretsmanager": "Secrets Manager", "sqs": "SQS"}


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    return render(translated())


@pytest.fixture(scope="module")
def with_key() -> dict[str, Any]:
    return render(translated(), {"KmsKeyArn": KEY})


def readme() -> str:
    return README.read_text(encoding="utf-8")


def block(name: str) -> str:
    """The README's text between `<!-- NAME: ... -->` and `<!-- /NAME -->`."""
    match = re.search(rf"<!-- {name}: [^>]*-->\n(.*?)<!-- /{name} -->", readme(), re.S)
    assert match, f"README.md has no <!-- {name}: ... --> block"
    return match.group(1)


def functions(rendered: dict[str, Any]) -> list[str]:
    return sorted(
        name for name, resource in rendered["Resources"].items() if resource["Type"] == "AWS::Lambda::Function"
    )


def statements(rendered: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = rendered["Resources"][f"{function}Role"]["Properties"]
    return [statement for policy in role.get("Policies", []) for statement in policy["PolicyDocument"]["Statement"]]


def listed(values: Any) -> list[str]:
    return values if isinstance(values, list) else [values]


def conditions(statement: dict[str, Any]) -> str:
    """A statement's StringEquals conditions, as ` if KEY is VALUE` (a parameter's value by its name)."""
    equals = statement.get("Condition", {}).get("StringEquals", {})
    named = [f"`{key}` is {value['Ref'] if isinstance(value, dict) else value}" for key, value in equals.items()]
    return f" if {' and '.join(named)}" if named else ""


def role_row(rendered: dict[str, Any], function: str) -> str:
    """A function's grants: DynamoDB actions with the key prefixes each is limited to, then the rest."""
    table: dict[str, list[str]] = {}
    others: list[str] = []
    for statement in statements(rendered, function):
        assert statement["Effect"] == "Allow", function
        resource = NAMED.get(json.dumps(statement["Resource"]), json.dumps(statement["Resource"]))
        leading = statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        for action in listed(statement["Action"]):
            service, _, operation = action.partition(":")
            if service == "dynamodb":
                assert leading, f"{function}: {action} on every key"
                table.setdefault(operation, []).extend(leading)
            else:
                others.append(f"`{action}` on {resource}{conditions(statement)}")
    dynamodb = "; ".join(
        f"{operation} " + ", ".join(f"`{prefix}`" for prefix in sorted(set(prefixes)))
        for operation, prefixes in sorted(table.items())
    )
    return f"| {function.removesuffix('Function')} | {dynamodb or '—'} | {'; '.join(sorted(others)) or '—'} |"


def roles_table(rendered: dict[str, Any]) -> str:
    rows = [role_row(rendered, function) for function in functions(rendered)]
    header = "| function | DynamoDB, on the item keys that start so | other |\n|---|---|---|\n"
    return header + "\n".join(rows) + "\n"


def kms_list(rendered: dict[str, Any]) -> str:
    lines = []
    for function in functions(rendered):
        through = [
            SERVICES[statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"].split(".")[0]]
            for statement in statements(rendered, function)
            if any(action.startswith("kms:") for action in listed(statement["Action"]))
        ]
        if through:
            lines.append(f"- {function.removesuffix('Function')}: through {', '.join(sorted(through))}")
    return "\n".join(lines) + "\n"


def test_the_alarm_count_is_the_templates(deployed: dict[str, Any]) -> None:
    alarms = len(of_type(deployed, "AWS::CloudWatch::Alarm"))
    assert re.findall(r"\*\*(\d+) alarms\*\*", readme()) == [str(alarms)]


def test_the_log_group_counts_are_the_templates(deployed: dict[str, Any], with_key: dict[str, Any]) -> None:
    groups = of_type(with_key, "AWS::Logs::LogGroup")
    assert all("KmsKeyId" in group["Properties"] for group in groups.values())
    assert re.findall(r"all (\d+) log groups are encrypted", readme()) == [str(len(groups))]
    (dashboard,) = of_type(deployed, "AWS::CloudWatch::Dashboard").values()
    sources = re.findall(r"SOURCE '\$\{(\w+)\}'", json.dumps(dashboard["Properties"]["DashboardBody"]))
    assert sorted(sources) == sorted(f"{function}Logs" for function in functions(deployed))
    assert re.findall(r"query over the (\d+) functions' log groups", readme()) == [str(len(sources))]


def test_the_function_counts_are_the_templates(deployed: dict[str, Any]) -> None:
    counts = re.findall(r"\b(\w+) functions share one Lambda layer|log group for each of the (\w+) functions", readme())
    assert [a or b for a, b in counts] == [str(len(functions(deployed)))] * 2


def test_the_roles_table_is_the_templates(deployed: dict[str, Any]) -> None:
    expected = roles_table(deployed)
    assert block("roles") == expected, f"README's roles table must read:\n{expected}"


def test_the_kms_grants_are_the_templates(with_key: dict[str, Any], deployed: dict[str, Any]) -> None:
    assert all(
        not any(action.startswith("kms:") for s in statements(deployed, f) for action in listed(s["Action"]))
        for f in functions(deployed)
    ), "without KmsKeyArn no role has a KMS grant"
    expected = kms_list(with_key)
    assert block("kms") == expected, f"README's KMS grants must read:\n{expected}"
