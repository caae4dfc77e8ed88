"""POST /auth/login: check credentials, answer with an auth token."""

from typing import Any

from lambda_auth import api, auth
from lambda_auth.observability import REQUEST_ID, logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)  # answers hold tokens and emails
@api.handler
def lambda_handler(event: api.Event) -> dict[str, Any]:
    return {"authToken": auth.login(api.body(event), api.source_ip(event))}
