"""A Lambda authorizer's IAM policy, evaluated against a method ARN as API Gateway does.

Only `execute-api:Invoke` matters. Statements match with IAM's wildcards (`*` any run of characters, `?` one
character); an explicit Deny wins over any Allow, and a request that no Allow covers is refused. NotAction and
NotResource are not read here: a policy with them is refused as API Gateway refuses a malformed one.
"""

from __future__ import annotations

from typing import Any, Literal

from .iam import wildcard

INVOKE_ACTION = "execute-api:Invoke"


class PolicyError(ValueError):
    """The authorizer's answer is not a policy API Gateway accepts (or one lambda-auth serve does not read)."""


def method_arn(region: str, account: str, api_id: str, stage: str, method: str, path: str) -> str:
    """arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path without its leading slash}."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path.lstrip('/')}"


def _covers(statement: dict[str, Any], key: str, value: str, ignore_case: bool = False) -> bool:
    patterns = statement.get(key)
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(patterns, list) or not patterns or not all(isinstance(item, str) for item in patterns):
        raise PolicyError(f"a statement's {key} is not a string or a list of strings")
    return any(wildcard(pattern, ignore_case).fullmatch(value) for pattern in patterns)


def evaluate(policy_document: Any, arn: str) -> Literal["Allow", "Deny"] | None:
    """The effect `policy_document` has on invoking `arn`: "Deny" when a Deny covers it, else "Allow" when an
    Allow does, else None (refused too); `PolicyError` if it is malformed."""
    if not isinstance(policy_document, dict):
        raise PolicyError("policyDocument is not an object")
    statements = policy_document.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not statements:
        raise PolicyError("policyDocument has no Statement")
    effect: Literal["Allow"] | None = None
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError("a statement is not an object whose Effect is Allow or Deny")
        if _covers(statement, "Action", INVOKE_ACTION, ignore_case=True) and _covers(statement, "Resource", arn):
            if statement["Effect"] == "Deny":
                return "Deny"
            effect = "Allow"
    return effect
