"""GET /auth/me: the user the authorizer found in the token."""

from typing import Any

from lambda_auth import http, profiles
from lambda_auth.observability import REQUEST_ID, logger, metrics


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
@metrics.log_metrics
@http.api
def lambda_handler(event: http.Event) -> dict[str, Any]:
    return profiles.profile(http.authorized_user_id(event))
