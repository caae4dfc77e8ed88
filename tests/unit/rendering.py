"""template.yaml as CloudFormation would deploy it for given parameter values.

SAM's translation (what `sam deploy` hands CloudFormation), then what CloudFormation does
with the parameter values: Rules checked, Conditions evaluated, resources and outputs whose
Condition is false left out, each Fn::If replaced by its branch and AWS::NoValue removed.
Every other intrinsic stays as written, so that a test can see what a resource references.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from typing import Any

from lambda_auth_cli import template

PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "lambda-auth",
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = {"Ref": "AWS::NoValue"}
# What every deploy must give: the parameters whose default the template's Rules refuse.
REQUIRED = {"MailSenderAddress": "no-reply@example.com"}
_SUB_NAME = re.compile(r"\$\{([^!}][^}]*)\}")


@functools.cache
def _translated() -> dict[str, Any]:
    return template.translate()


def translated() -> dict[str, Any]:
    """The template as SAM translates it (a fresh copy each call)."""
    return copy.deepcopy(_translated())


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, object]) -> dict[str, str]:
    """Every parameter's value: its default (or REQUIRED's) unless overridden (as text, as CloudFormation passes it)."""
    parameters = template["Parameters"]
    unknown = set(overrides) - set(parameters)
    assert not unknown, f"not parameters of the template: {sorted(unknown)}"
    values = {name: str(spec["Default"]) for name, spec in parameters.items() if "Default" in spec}
    values.update(REQUIRED)
    values.update({name: str(value) for name, value in overrides.items()})
    missing = set(parameters) - set(values)
    assert not missing, f"parameters without a default or a value: {sorted(missing)}"
    return values


class _Evaluator:
    """Condition functions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition) over Refs to parameters."""

    def __init__(self, template: Mapping[str, Any], values: Mapping[str, str]) -> None:
        self.definitions: Mapping[str, Any] = template.get("Conditions") or {}
        self.values = values
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.definitions[name]))
        return self.conditions[name]

    def value(self, expression: Any) -> Any:
        if not isinstance(expression, dict) or len(expression) != 1:
            return expression
        ((function, argument),) = expression.items()
        if function == "Ref":
            return self.values[argument] if argument in self.values else PSEUDO[argument]
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (self.value(item) for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.value(argument[0])
        if function == "Fn::And":
            return all(self.value(item) for item in argument)
        if function == "Fn::Or":
            return any(self.value(item) for item in argument)
        raise ValueError(f"not a condition function: {function}")


def _resolve_ifs(value: Any, evaluator: _Evaluator) -> Any:
    """Each Fn::If replaced by its branch; AWS::NoValue (returned as NO_VALUE) removed from its parent."""
    if isinstance(value, list):
        items = [_resolve_ifs(item, evaluator) for item in value]
        return [item for item in items if item != NO_VALUE]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::If"}:
        name, when_true, when_false = value["Fn::If"]
        return _resolve_ifs(when_true if evaluator.condition(name) else when_false, evaluator)
    resolved = {key: _resolve_ifs(item, evaluator) for key, item in value.items()}
    return {key: item for key, item in resolved.items() if item != NO_VALUE}


def failed_rules(template: Mapping[str, Any], overrides: Mapping[str, object]) -> list[str]:
    """The AssertDescription of each Rules assertion the values break (CloudFormation refuses them)."""
    evaluator = _Evaluator(template, parameter_values(template, overrides))
    failures = []
    for rule in (template.get("Rules") or {}).values():
        if "RuleCondition" in rule and not evaluator.value(rule["RuleCondition"]):
            continue
        failures += [item["AssertDescription"] for item in rule["Assertions"] if not evaluator.value(item["Assert"])]
    return failures


def render(template: Mapping[str, Any], overrides: Mapping[str, object] | None = None) -> dict[str, Any]:
    """The translated template as deployed with these parameter values (defaults for the rest)."""
    overrides = overrides or {}
    assert not failed_rules(template, overrides), failed_rules(template, overrides)
    evaluator = _Evaluator(template, parameter_values(template, overrides))
    rendered = copy.deepcopy(dict(template))
    for section in ("Resources", "Outputs"):
        rendered[section] = {
            name: _resolve_ifs(item, evaluator)
            for name, item in (template.get(section) or {}).items()
            if "Condition" not in item or evaluator.condition(item["Condition"])
        }
    rendered["Conditions"] = {name: evaluator.condition(name) for name in template.get("Conditions") or {}}
    return rendered


def references(value: Any, template: Mapping[str, Any]) -> set[str]:
    """The resources a value names through Ref, Fn::GetAtt or Fn::Sub (parameters and pseudo names left out)."""
    not_resources = set(template.get("Parameters") or {}) | set(PSEUDO) | {"AWS::NoValue"}
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item, template)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                found.add(argument)
            elif key == "Fn::GetAtt":
                found.add(argument[0] if isinstance(argument, list) else str(argument).split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                names = {name.split(".")[0] for name in _SUB_NAME.findall(text)} - set(variables)
                found |= names | references(variables, template)
            else:
                found |= references(argument, template)
    return found - not_resources


def dependencies(rendered: Mapping[str, Any], name: str) -> set[str]:
    """What CloudFormation creates before a resource: its references and its DependsOn."""
    resource = rendered["Resources"][name]
    depends_on = resource.get("DependsOn", [])
    return references(resource, rendered) | set([depends_on] if isinstance(depends_on, str) else depends_on)


def created_after(rendered: Mapping[str, Any], later: str, earlier: str) -> bool:
    """Whether `later` waits, directly or through others, for `earlier`."""
    seen: set[str] = set()
    pending = [later]
    while pending:
        for name in dependencies(rendered, pending.pop()) - seen:
            if name == earlier:
                return True
            seen.add(name)
            pending.append(name)
    return False


def of_type(rendered: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in rendered["Resources"].items() if r["Type"] == kind}
