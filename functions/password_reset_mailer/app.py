"""The mailer, invoked asynchronously by POST /auth/password-reset: mail a reset code if the email has an account.

A failure raises, so that Lambda retries the invocation with the same event (twice; a retry mails
the same code), then records it in the stack's failure queue, whose alarm fires.
"""

from typing import Any

from lambda_auth import reset_mail
from lambda_auth.observability import logger, metrics


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> None:
    reset_mail.send_code(event)
