"""The REQUEST authorizer's logic: find the token, verify it, check its session, answer with an IAM policy.

A token comes, as in Xano, from
- `X-Xano-Authorization: Bearer <token>` when `X-Xano-Authorization-Only: true` is sent
  (it lets an app keep `Authorization` for another system);
- else `Authorization: Bearer <token>` (the scheme in any case);
- else `X-Xano-Authorization: Bearer <token>`;
- else the `authtoken` query parameter.
It never imports the user store: it decides from the token and one read of its session
(`session_check`). API Gateway cannot cache its answers (a token may come by several
carriers, so there is no identity source to key on); instead each function instance
remembers the tokens it has verified and the sessions it has checked, so a client that
calls again with the same token within the check window pays for two dictionary lookups.
"""

from __future__ import annotations

import json
from typing import Any

from . import keys, session_check, settings, tokens
from .errors import Unauthorized

# Read once per cold start: a missing setting fails the import, naming the variable.
keys.current_store()
settings.table()

# Tokens this instance has verified; see `tokens.VerifiedTokenCache` for why a hit is safe.
verified_tokens = tokens.VerifiedTokenCache()
# Sessions this instance has found live, trusted for AUTH_SESSION_CHECK_SECONDS.
live_sessions = session_check.SessionCheck()

# A refused request's principal: never a user id (those are integers).
ANONYMOUS = "anonymous"


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value) if value is not None else ""
    return None


def _bearer(value: str, header: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(f"{header} header is not a Bearer token")
    return token.strip()


def token_from_request(event: dict[str, Any]) -> str:
    """The token a request carries; `Unauthorized` when it carries none."""
    xano = _header(event, "x-xano-authorization")
    if (_header(event, "x-xano-authorization-only") or "").strip().lower() == "true":
        if xano is None:
            raise Unauthorized("X-Xano-Authorization-Only without X-Xano-Authorization")
        return _bearer(xano, "X-Xano-Authorization")
    authorization = _header(event, "authorization")
    if authorization is not None:
        return _bearer(authorization, "Authorization")
    if xano is not None:
        return _bearer(xano, "X-Xano-Authorization")
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
        "context": {
            "userId": claims.user_id,
            "sessionId": claims.session_id or "",
            "extras": _extras_json(claims.extras),
        },
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
    """Verify the request's token and its session, and return the allow policy, or raise `Unauthorized`."""
    claims = verified_tokens.verify(keys.current_store().get(), token_from_request(event))
    live_sessions.require_live(claims.user_id, claims.session_id)
    return allow_policy(claims, str(event.get("methodArn", "")))
