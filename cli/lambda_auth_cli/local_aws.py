"""What stands in for an AWS account locally: the embedded DynamoDB, the table on it, the functions' environment.

`serve` and `invoke` run the functions in this process with the environment the template
gives them, except that the table is a local one, the keys come from a file, and metrics
and traces are off. The admin commands point the layer's store at a table the same way:
`apply` is the one place this program sets the environment the layer reads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lambda_auth import settings

from . import template
from .console import CliError

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
QUIET_LOG_LEVEL = "WARNING"

# moto accepts any credentials; these keep boto3 from looking for real ones.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": template.DEFAULT_REGION,
}


def apply(environment: Mapping[str, str]) -> None:
    """Set variables in this process's environment, and have the layer read its settings again."""
    os.environ.update(environment)
    settings.reset()


def use_endpoint(endpoint_url: str, table_name: str = template.LOCAL_TABLE_NAME) -> None:
    """Point this process's AWS clients, and the layer's store, at a table on a local DynamoDB endpoint."""
    placeholders = {name: value for name, value in PLACEHOLDER_CREDENTIALS.items() if not os.environ.get(name)}
    apply({**placeholders, ENDPOINT_VARIABLE: endpoint_url, "AUTH_TABLE_NAME": table_name})


class _OneRequestAtATime:
    """DynamoDB applies each request atomically (a conditional update, an ADD, a transaction);
    moto's backend takes no locks, so concurrent requests could interleave inside one. This
    WSGI wrapper lets moto handle one request at a time, as the guarantees need."""

    def __init__(self, app: Any):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


@contextmanager
def embedded_dynamodb(host: str = "127.0.0.1") -> Iterator[str]:
    """Run moto's server (DynamoDB among its services) on a free port of `host`; yield its URL. Data lives in memory."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    # moto serves through werkzeug, whose request log would fill the console with its calls.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="embedded-dynamodb", daemon=True)
    thread.start()
    try:
        bound_host, port = str(server.server_address[0]), int(server.server_address[1])
        yield f"http://{bound_host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def ensure_table(table_name: str, endpoint_url: str | None = None) -> bool:
    """Create the users table as template.yaml defines it, unless it exists. True if it was created."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint_url)
    names = {name for page in client.get_paginator("list_tables").paginate() for name in page["TableNames"]}
    if table_name in names:
        return False
    definition = template.table_definition()
    ttl = definition.pop("TimeToLiveSpecification", None)
    client.create_table(TableName=table_name, **definition)
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    if ttl:
        client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
    return True


@dataclass(frozen=True)
class LocalTable:
    """The table a local run keeps its data in, and where."""

    endpoint_url: str
    table_name: str
    embedded: bool
    created: bool

    def describe(self) -> str:
        """One line for the banner: where the data is and how long it lives."""
        if self.embedded:
            return (
                f"in memory: embedded DynamoDB (moto) at {self.endpoint_url}, table {self.table_name!r};"
                f" gone when the server stops ({ENDPOINT_VARIABLE} to use DynamoDB Local instead)"
            )
        state = "created now" if self.created else "existing"
        return f"DynamoDB at {self.endpoint_url} ({ENDPOINT_VARIABLE}), table {self.table_name!r} ({state})"


def _check_reachable(endpoint_url: str) -> None:
    parts = urlsplit(endpoint_url)
    if not parts.hostname:
        raise CliError(f"{ENDPOINT_VARIABLE}={endpoint_url!r} is not a URL", exit_code=2)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=3):
            pass
    except OSError as error:
        raise CliError(f"cannot reach DynamoDB at {endpoint_url} ({ENDPOINT_VARIABLE}): {error}") from None


def _ready(endpoint_url: str, embedded: bool, table_name: str = template.LOCAL_TABLE_NAME) -> LocalTable:
    from botocore.exceptions import BotoCoreError, ClientError

    use_endpoint(endpoint_url, table_name)
    try:
        created = ensure_table(table_name, endpoint_url)
    except (BotoCoreError, ClientError) as error:
        raise CliError(f"cannot create the table {table_name!r} at {endpoint_url}: {error}") from None
    return LocalTable(endpoint_url, table_name, embedded, created)


@contextmanager
def local_table() -> Iterator[LocalTable]:
    """The endpoint in AWS_ENDPOINT_URL_DYNAMODB if set, else an embedded DynamoDB; the table made ready."""
    external = os.environ.get(ENDPOINT_VARIABLE, "").strip()
    if external:
        _check_reachable(external)
        yield _ready(external, embedded=False)
        return
    with embedded_dynamodb() as endpoint_url:
        yield _ready(endpoint_url, embedded=True)


def function_environment(app: template.Application, key_file: Path, verbose: bool) -> tuple[dict[str, str], list[str]]:
    """The variables every function gets locally, and a warning for each the functions disagree on.

    The functions share this process, and the layer reads its settings once per process,
    so they share one environment: the union of theirs, with local values for the table,
    the keys and Powertools.
    """
    merged: dict[str, str] = {}
    warnings = []
    for function in app.functions.values():
        for name, value in function.environment.items():
            if name in merged and merged[name] != value:
                warnings.append(f"functions disagree on {name}; locally all of them use {merged[name]!r}")
            merged.setdefault(name, value)
    merged.pop("AUTH_JWKS_SECRET_ARN", None)
    merged.update(
        {
            "AUTH_TABLE_NAME": template.LOCAL_TABLE_NAME,
            "AUTH_JWKS_FILE": str(key_file),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_REGION": app.region,
        }
    )
    if not verbose:
        merged["POWERTOOLS_LOG_LEVEL"] = QUIET_LOG_LEVEL
    return merged, warnings
