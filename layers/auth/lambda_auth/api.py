"""API Gateway proxy events in, proxy responses out: the one place errors become Xano's JSON.

Every HTTP function's handler is wrapped by `handler`: the domain raises typed errors, and this
module alone turns them, or anything unexpected, into `{code, message, payload}`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import settings
from .errors import AuthError, InputError, Unauthorized
from .observability import logger, metrics
from .store import table
from .validation import json_object

Event = dict[str, Any]
Response = dict[str, Any]

FATAL_CODE = "ERROR_FATAL"
FATAL_MESSAGE = "Something went wrong. Please try again."
# Time kept back from the function's timeout to answer a request whose deadline passed.
ANSWER_SECONDS = 1.0
DEFAULT_REMAINING_SECONDS = 10.0  # when the caller gives no Lambda context


def _headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Access-Control-Allow-Origin": settings.api().cors_allow_origin,
    }
    headers.update(extra or {})
    return headers


def json_response(status: int, body: object, headers: Mapping[str, str] | None = None) -> Response:
    """A proxy response with a JSON body and the CORS header."""
    return {
        "statusCode": status,
        "headers": _headers(headers),
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
    }


def error_body(code: str, message: str, payload: object | None = None) -> dict[str, object]:
    """Xano's error shape; `payload` is left out when there is none."""
    body: dict[str, object] = {"code": code, "message": message}
    if payload is not None:
        body["payload"] = payload
    return body


def error_response(error: AuthError) -> Response:
    return json_response(error.status, error_body(error.code, error.message, error.payload), error.headers())


def fatal_response() -> Response:
    return json_response(500, error_body(FATAL_CODE, FATAL_MESSAGE))


def handler(route: Callable[[Event], object]) -> Callable[[Event, Any], Response]:
    """Wrap a route that returns a JSON-able body: 200 with it, or the error's response."""

    @functools.wraps(route)
    def wrapped(event: Event, context: Any) -> Response:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining() / 1000 if remaining is not None else DEFAULT_REMAINING_SECONDS
        try:
            with table.deadline(seconds - ANSWER_SECONDS):
                return json_response(200, route(event))
        except AuthError as error:
            logger.info("request refused", extra={"code": error.code, "status": error.status})
            metrics.add_metric(name="ClientError", unit=MetricUnit.Count, value=1)
            return error_response(error)
        except Exception:
            logger.exception("unexpected error")
            metrics.add_metric(name="ServerError", unit=MetricUnit.Count, value=1)
            return fatal_response()

    return wrapped


def body(event: Event) -> dict[str, Any]:
    """The request body as a JSON object, or an `InputError`."""
    raw = event.get("body")
    if raw is not None and event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("The request body is not valid base64.") from None
    return json_object(raw)


def optional_body(event: Event) -> dict[str, Any]:
    """The request body as a JSON object, `{}` when there is none, or an `InputError`."""
    return body(event) if event.get("body") not in (None, "") else {}


def source_ip(event: Event) -> str | None:
    """The client's address as API Gateway saw it (requestContext.identity.sourceIp)."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    address = identity.get("sourceIp")
    return str(address) if address else None


def _authorizer(event: Event) -> dict[str, Any]:
    context: dict[str, Any] = (event.get("requestContext") or {}).get("authorizer") or {}
    return context


def authorized_user_id(event: Event) -> int:
    """The user id the authorizer put in the request context (API Gateway passes it as text)."""
    principal = str(_authorizer(event).get("principalId", ""))
    if not (principal.isascii() and principal.isdigit()) or int(principal) <= 0:
        raise Unauthorized("no authorized principal in the request context")
    return int(principal)


def authorized_session_id(event: Event) -> str:
    """The id of the session the authorizer found the token in (its context's `sessionId`)."""
    session_id = str(_authorizer(event).get("sessionId") or "")
    if not session_id:
        raise Unauthorized("no authorized session in the request context")
    return session_id
