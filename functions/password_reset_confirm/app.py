"""POST /auth/password-reset/confirm: set a new password with the emailed code; answer with an auth token."""

from typing import Any

from lambda_auth import api, auth
from lambda_auth.observability import REQUEST_ID, logger, metrics


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
@metrics.log_metrics
@api.handler
def lambda_handler(event: api.Event) -> dict[str, Any]:
    return {"authToken": auth.confirm_reset(api.body(event), api.source_ip(event))}
