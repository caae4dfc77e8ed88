"""The local data store: an embedded DynamoDB (moto's server on loopback), and the table on it."""

from __future__ import annotations

import os
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


@contextmanager
def embedded_dynamodb(host: str = "127.0.0.1") -> Iterator[str]:
    """Run moto's DynamoDB on a free loopback port; yield its endpoint URL. Data lives in memory."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    try:
        bound_host, port = server.get_host_and_port()
        yield f"http://{bound_host}:{port}"
    finally:
        server.stop()


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
