"""REQUEST authorizer: an Allow policy for a valid token, API Gateway's 401 otherwise."""

from typing import Any

from lambda_auth import authorizer
from lambda_auth.errors import Unauthorized
from lambda_auth.observability import REQUEST_ID, logger


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return authorizer.authorize(event)
    except Unauthorized as refusal:
        logger.info("token refused", extra={"reason": refusal.reason})
        raise Exception(authorizer.UNAUTHORIZED) from None
