"""The one place observability is built: logs, metrics and traces for every function.

The HTTP functions (signup, login, me) share one Powertools Logger and Metrics: `logger`
and `metrics`. Service name, metrics namespace and log level come from the POWERTOOLS_*
variables that template.yaml sets once in Globals (`settings.observability`).

Traces are Lambda's own (`Tracing: Active`) and API Gateway's: each request's trace shows
the gateway, the authorizer and the function, with every cold start's initialization.
The functions do not load the X-Ray SDK (Powertools' Tracer) for subsegments of their
own: with tracing on, as in Lambda, it added 23 ms to me's cold start and 47 ms to
login's and signup's on one full core (README: "Tracing"), enough to miss the cold-start
goals on a busy machine, and a subsegment sent per DynamoDB call on every warm one.
Lambda's and API Gateway's traces hold no request or answer: no token, password or email
reaches X-Ray.

The authorizer runs before every authenticated request, so its cold start is the
product's latency, and Powertools is costly to import there: it imports botocore (to tag
SDK calls). So the Powertools objects are built on first access, by the functions that
use them, and the authorizer logs through `authorizer_logger`: the standard library's
logging, writing one JSON object per line with the same keys as Powertools' Logger.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

    logger: Logger
    metrics: Metrics

_settings = settings.observability()
SERVICE = _settings.service
LOG_LEVEL = _settings.log_level

# API Gateway's request id becomes every log line's correlation id. The same path as
# Powertools' correlation_paths.API_GATEWAY_REST, spelt out so that reading it imports nothing.
REQUEST_ID = "requestContext.requestId"

_POWERTOOLS_NAMES = frozenset({"logger", "metrics"})
_build_lock = threading.Lock()


def __getattr__(name: str) -> object:
    """Build Powertools' Logger and Metrics when a function first asks for one."""
    if name not in _POWERTOOLS_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _build_lock:
        if name not in globals():
            _build_powertools()
    return globals()[name]


def _build_powertools() -> None:
    from aws_lambda_powertools import Logger, Metrics

    namespace = globals()
    namespace["logger"] = Logger(service=SERVICE, level=LOG_LEVEL)
    namespace["metrics"] = Metrics(service=SERVICE, namespace=_settings.metrics_namespace)
    # A refused request may record no metric; that is expected, not worth a warning per call.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


# The authorizer's logger


class _Invocation:
    """What the authorizer's log lines say about the invocation they belong to."""

    __slots__ = ("cold_start", "context", "event")

    def __init__(self, event: dict[str, Any], context: Any, cold_start: bool) -> None:
        self.event = event
        self.context = context
        self.cold_start = cold_start

    def keys(self) -> dict[str, Any]:
        request_context = self.event.get("requestContext") if isinstance(self.event, dict) else None
        return {
            "cold_start": self.cold_start,
            "function_name": getattr(self.context, "function_name", None),
            "function_memory_size": getattr(self.context, "memory_limit_in_mb", None),
            "function_arn": getattr(self.context, "invoked_function_arn", None),
            "function_request_id": getattr(self.context, "aws_request_id", None),
            "correlation_id": request_context.get("requestId") if isinstance(request_context, dict) else None,
        }


# Per thread (and per task), so that a threaded local server keeps invocations apart.
_invocation: contextvars.ContextVar[_Invocation | None] = contextvars.ContextVar("invocation", default=None)
_cold_start = [True]

# Every attribute a bare LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the keys Powertools' Logger writes."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
            + f",{int(record.msecs):03d}+0000",
            "service": SERVICE,
        }
        invocation = _invocation.get()
        if invocation is not None:
            entry.update(invocation.keys())
        entry.update((key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
            entry["exception_name"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":"))


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time (Lambda sends stdout to CloudWatch Logs)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _build_authorizer_logger() -> logging.Logger:
    # A child of the service's name, not propagating: where Powertools' logger lives in the
    # same process (tests, the local server), no line is written twice.
    built = logging.getLogger(f"{SERVICE}.authorizer")
    built.propagate = False
    built.setLevel(LOG_LEVEL if LOG_LEVEL in logging.getLevelNamesMapping() else "INFO")
    if not built.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        built.addHandler(handler)
    return built


authorizer_logger = _build_authorizer_logger()

_Handler = TypeVar("_Handler", bound=Callable[[dict[str, Any], Any], Any])


def with_invocation_keys(handler: _Handler) -> _Handler:
    """Give the authorizer's log lines the invocation's keys: cold start, request ids, function.

    It costs one context-variable write per call; the keys are read only when a line is written.
    """

    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> Any:
        cold_start = _cold_start[0]
        _cold_start[0] = False
        _invocation.set(_Invocation(event, context, cold_start))
        return handler(event, context)

    return wrapper  # type: ignore[return-value]
