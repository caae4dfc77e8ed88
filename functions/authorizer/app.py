"""REQUEST authorizer: an Allow policy for a valid token, a Deny policy (Xano's 401) otherwise.

It logs with the standard library's logging, not Powertools (see observability.py):
importing Powertools would bring botocore into its cold start.
"""

from typing import Any

from lambda_auth import authorizer
from lambda_auth.errors import Unauthorized
from lambda_auth.observability import authorizer_logger as logger
from lambda_auth.observability import with_invocation_keys


@with_invocation_keys
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return authorizer.authorize(event)
    except Unauthorized as refusal:
        logger.info("token refused", extra={"reason": refusal.reason})
        return authorizer.deny_policy(str(event.get("methodArn", "")))
