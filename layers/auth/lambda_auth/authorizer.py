"""The REQUEST authorizer's logic: find the token, verify it, answer with an IAM policy.

A token comes from `Authorization: Bearer <token>` (the scheme in any case) or, only
when no Authorization header is sent, from the `authtoken` query parameter, as in Xano.
It never imports the user store: it decides from the token alone. API Gateway cannot
cache its answers (either carrier is accepted, so there is no identity source to key
on); instead each function instance remembers the tokens it has verified, so a client
that calls again with the same token pays for one dictionary lookup, not a decryption.
"""

from __future__ import annotations

import json
from typing import Any

from . import keys, tokens
from .errors import Unauthorized

# Read once per cold start: a missing setting fails the import, naming the variable.
keys.current_store()

# Tokens this instance has verified; see `tokens.VerifiedTokenCache` for why a hit is safe.
verified_tokens = tokens.VerifiedTokenCache()

# A refused request's principal: never a user id (those are integers).
ANONYMOUS = "anonymous"


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value) if value is not None else ""
    return None


def token_from_request(event: dict[str, Any]) -> str:
    """The token a request carries; `Unauthorized` when it carries none."""
    authorization = _header(event, "authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization header is not a Bearer token")
        return token.strip()
    query_token = (event.get("queryStringParameters") or {}).get("authtoken")
    if not query_token:
        raise Unauthorized("no token in the request")
    return str(query_token)


def allow_policy(claims: tokens.Claims, method_arn: str) -> dict[str, Any]:
    """Allow this one method; the backend reads the user id from principalId."""
    return {
        "principalId": str(claims.user_id),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}],
        },
        # API Gateway passes only flat string, number and boolean values on.
        "context": {"userId": claims.user_id, "extras": _extras_json(claims.extras)},
    }


def deny_policy(method_arn: str) -> dict[str, Any]:
    """Refuse this one method: API Gateway answers with its ACCESS_DENIED gateway response,
    which the template makes Xano's 401. A policy rather than raising "Unauthorized", which
    only API Gateway reads as a refusal: sam local reads a Deny as one too (a 403), but a
    raised error as a failure (a 502)."""
    return {
        "principalId": ANONYMOUS,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": method_arn}],
        },
    }


def _extras_json(extras: dict[str, Any]) -> str:
    # Tokens issued here carry no extras; "{}" spares a json.dumps on every request.
    return json.dumps(extras, separators=(",", ":")) if extras else "{}"


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    """Verify the request's token and return the allow policy, or raise `Unauthorized`."""
    claims = verified_tokens.verify(keys.current_store().get(), token_from_request(event))
    return allow_policy(claims, str(event.get("methodArn", "")))
