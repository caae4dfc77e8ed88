"""The local data store: an embedded DynamoDB (moto's server on loopback), and the table on it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import template

# moto accepts any credentials; these keep boto3 from looking for real ones.
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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
    """Run moto's DynamoDB on a free loopback port; yield its endpoint URL. Data lives in memory."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

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


def use_local_aws(endpoint_url: str) -> None:
    """Point this process's AWS clients at `endpoint_url` with placeholder credentials."""
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint_url


def ensure_table(table_name: str, endpoint_url: str | None = None) -> bool:
    """Create the users table as template.yaml defines it, unless it exists. True if it was created."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint_url)
    if table_name in _table_names(client):
        return False
    definition = template.table_definition(template.load())
    ttl = definition.pop("TimeToLiveSpecification", None)
    client.create_table(TableName=table_name, **definition)
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    if ttl:
        client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
    return True


def _table_names(client: Any) -> set[str]:
    names: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        names.update(page["TableNames"])
    return names
