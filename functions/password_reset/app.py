"""POST /auth/password-reset: mail a reset code, if the email has an account; the same answer either way."""

from typing import Any

from lambda_auth import api, reset_request
from lambda_auth.observability import REQUEST_ID, logger, metrics


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
@metrics.log_metrics
@api.handler
def lambda_handler(event: api.Event) -> dict[str, Any]:
    return reset_request.request_reset(api.body(event), api.source_ip(event))
