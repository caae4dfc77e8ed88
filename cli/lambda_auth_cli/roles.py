"""The template's roles, enforced locally as IAM enforces them in AWS.

Each function runs with an access key of its own, made for the run, as Lambda hands a function its role's
credentials. The embedded DynamoDB and Lambda's Invoke API check each request's signature, find the role its key
belongs to, and authorize each action against that role's policies as the template writes them (SAM's policy
templates expanded): a call the role does not grant fails with AccessDeniedException, as in AWS, and the server
logs the denial. The run's own key (the admin commands, Run & Debug) keeps full access, like an operator's.
With --verbose each allowed call is logged too: the function, the action and the grant that allowed it (a key
prefix of the template, or a resource), never the key or the item itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from . import iam, template
from .local_aws import LocalCredentials
from .template import LOCAL_ACCOUNT_ID

log = logging.getLogger("lambda_auth_cli.roles")


@dataclass(frozen=True)
class Role:
    name: str  # the role's logical id
    function: str  # the function that assumes it: the session's name
    credentials: LocalCredentials
    policy: iam.Policy

    @property
    def session_arn(self) -> str:
        return f"arn:aws:sts::{LOCAL_ACCOUNT_ID}:assumed-role/{self.name}/{self.function}"

    def denial(self, request: iam.Request) -> str | None:
        """AWS's message refusing `request`, or None (and a log line at INFO naming the grant) when it is allowed."""
        decision = self.policy.decide(request)
        if decision.allowed and decision.statement is not None:
            log.info("%s allowed %s on %s", self.function, request.action, _grant(decision.statement, request))
            return None
        why = (
            "with an explicit deny in an identity-based policy"
            if decision.effect == "Deny"
            else f"because no identity-based policy allows the {request.action} action"
        )
        return (
            f"User: {self.session_arn} is not authorized to perform: {request.action}"
            f" on resource: {request.resource} {why}"
        )


def _grant(statement: iam.Statement, request: iam.Request) -> str:
    """What in `statement` allowed `request`: the key prefix its partition key matched, else the resource pattern."""
    keys = request.context.get(iam.LEADING_KEYS, ())
    for condition in statement.conditions:
        if condition.key == iam.LEADING_KEYS:
            return next((p for p in condition.values for key in keys if iam.wildcard(p).fullmatch(key)), "-")
    return next((p for p in statement.resources if iam.wildcard(p).fullmatch(request.resource)), request.resource)


class Roles:
    """Every function's role, with a fresh key each; what local_aws's guards ask about the keys they see."""

    def __init__(self, app: template.Application):
        self.by_function: dict[str, Role] = {}
        for name, function in app.functions.items():
            try:
                policy = iam.Policy.read(function.policies)
            except iam.PolicyError as error:
                raise template.TemplateError(f"{function.role} ({name}'s role): {error}") from None
            self.by_function[name] = Role(function.role, name, LocalCredentials.fresh(), policy)
        self._by_key = {role.credentials.access_key_id: role for role in self.by_function.values()}

    def credentials(self, access_key_id: str) -> LocalCredentials | None:
        role = self._by_key.get(access_key_id)
        return role.credentials if role is not None else None

    def denial(self, access_key_id: str, requests: list[iam.Request]) -> str | None:
        """Why the key's role may not make `requests` (the first refused), or None; None for a key of no role."""
        role = self._by_key.get(access_key_id)
        if role is None:
            return None
        for request in requests:
            reason = role.denial(request)
            if reason is not None:
                log.warning("%s denied: %s", role.function, reason)
                return reason
        return None
