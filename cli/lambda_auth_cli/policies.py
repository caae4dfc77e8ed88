"""A Lambda authorizer's IAM policy, evaluated against a method ARN as API Gateway does.

Only `execute-api:Invoke` matters. Statements match with IAM's wildcards (`*` any run
of characters, `?` one character); an explicit Deny wins over any Allow, and a request
that no Allow covers is refused.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable
from typing import Any

INVOKE_ACTION = "execute-api:Invoke"


class PolicyError(ValueError):
    """The authorizer's answer is not a policy API Gateway accepts."""


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny statement covers the request
    NOT_ALLOWED = "not-allowed"  # no Allow statement covers it


def method_arn(region: str, account: str, api_id: str, stage: str, method: str, path: str) -> str:
    """arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path without its leading slash}."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path.lstrip('/')}"


@functools.lru_cache(maxsize=256)
def _pattern(wildcard: str, ignore_case: bool) -> re.Pattern[str]:
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wildcard)
    return re.compile(expression, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(patterns: Iterable[str], value: str, ignore_case: bool = False) -> bool:
    return any(_pattern(pattern, ignore_case).fullmatch(value) for pattern in patterns)


def _strings(statement: dict[str, Any], key: str) -> list[str] | None:
    value = statement.get(key)
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        raise PolicyError(f"{key} is not a string or a list of strings")
    return values


def _covers(statement: dict[str, Any], arn: str) -> bool:
    actions, not_actions = _strings(statement, "Action"), _strings(statement, "NotAction")
    resources, not_resources = _strings(statement, "Resource"), _strings(statement, "NotResource")
    if (actions is None) == (not_actions is None) or (resources is None) == (not_resources is None):
        raise PolicyError("a statement needs one of Action/NotAction and one of Resource/NotResource")
    action_ok = (
        _matches(actions, INVOKE_ACTION, ignore_case=True)
        if actions is not None
        else not _matches(not_actions or [], INVOKE_ACTION, ignore_case=True)
    )
    resource_ok = _matches(resources, arn) if resources is not None else not _matches(not_resources or [], arn)
    return action_ok and resource_ok


def evaluate(policy_document: Any, arn: str) -> Decision:
    """Whether `policy_document` lets the caller invoke `arn`; `PolicyError` if it is malformed."""
    if not isinstance(policy_document, dict):
        raise PolicyError("policyDocument is not an object")
    statements = policy_document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("policyDocument has no Statement")
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            raise PolicyError("a statement is not an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"Effect {effect!r} is neither Allow nor Deny")
        if _covers(statement, arn):
            if effect == "Deny":
                return Decision.DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.NOT_ALLOWED
