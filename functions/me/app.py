"""GET /auth/me: the user the authorizer found in the token."""

from typing import Any

from lambda_auth import api, profiles
from lambda_auth.observability import REQUEST_ID, logger, metrics


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
@metrics.log_metrics
@api.handler
def lambda_handler(event: api.Event) -> dict[str, Any]:
    return profiles.profile(api.authorized_user_id(event))
