"""POST /auth/login: check credentials, answer with an auth token."""

from typing import Any

from lambda_auth import auth, http
from lambda_auth.observability import REQUEST_ID, logger, metrics


@logger.inject_lambda_context(correlation_id_path=REQUEST_ID, log_event=False)
@metrics.log_metrics
@http.api
def lambda_handler(event: http.Event) -> dict[str, Any]:
    return {"authToken": auth.login(http.body(event), http.source_ip(event))}
