"""POST /auth/logout: end this session, every other one, or all of them."""

from typing import Any

from lambda_auth import api, logout
from lambda_auth.observability import REQUEST_ID, logger, metrics


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
@metrics.log_metrics
@api.handler
def lambda_handler(event: api.Event) -> dict[str, Any]:
    return logout.logout(api.authorized_user_id(event), api.authorized_session_id(event), api.optional_body(event))
