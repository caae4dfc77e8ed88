"""POST /auth/password: change the password, given the current one; answer with a fresh auth token."""

from typing import Any

from lambda_auth import api, auth
from lambda_auth.observability import REQUEST_ID, logger, metrics


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
@metrics.log_metrics
@api.handler
def lambda_handler(event: api.Event) -> dict[str, Any]:
    user_id, session_id = api.authorized_user_id(event), api.authorized_session_id(event)
    return {"authToken": auth.change_password(user_id, session_id, api.body(event), api.source_ip(event))}
