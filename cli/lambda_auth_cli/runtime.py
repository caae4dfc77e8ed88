"""What stands in for an AWS account locally: the key file, the data store, the functions' environment.

`serve` and `invoke` share it: the functions run in this process with the environment
the template gives them, except that the table is a local one, the keys come from a
file, and metrics and traces are off.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from . import dynamodb, sam, template
from .functions import LocalFunction

DEFAULT_KEY_FILE = template.PROJECT_ROOT / ".local" / "jwks.json"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
QUIET_LOG_LEVEL = "WARNING"


class CliError(Exception):
    """An error the command reports in one line, with its exit status."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class KeyFileStatus:
    """The key file a command uses, and whether this start created it."""

    path: Path
    created: bool


@dataclass(frozen=True)
class DataStore:
    endpoint_url: str
    table_name: str
    embedded: bool
    table_created: bool

    def describe(self) -> str:
        """One line for the banner: where the data is and how long it lives."""
        if self.embedded:
            return (
                f"in memory: embedded DynamoDB (moto) at {self.endpoint_url}, table {self.table_name!r};"
                f" gone when the server stops ({ENDPOINT_VARIABLE} to use DynamoDB Local instead)"
            )
        state = "created now" if self.table_created else "existing"
        return f"DynamoDB at {self.endpoint_url} ({ENDPOINT_VARIABLE}), table {self.table_name!r} ({state})"


def ensure_key_file(path: Path) -> KeyFileStatus:
    """The JWK Set file at `path`, created with one fresh key (mode 0600) when missing; checked either way."""
    from lambda_auth.keys import KeySetError, new_key, parse_key_set

    from .keyring import KeyFile

    path = path.expanduser().absolute()
    created = False
    if not path.exists():
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            KeyFile(path).write({"keys": [new_key()]})
        except OSError as error:
            raise CliError(f"cannot create the key file {path}: {error.strerror}") from None
        created = True
    try:
        parse_key_set(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CliError(f"cannot read the key file {path}: {error.strerror}") from None
    except KeySetError as error:
        raise CliError(f"the key file {path} is not a usable JWK Set: {error}") from None
    return KeyFileStatus(path=path, created=created)


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


@contextmanager
def data_store(table_name: str = sam.LOCAL_TABLE_NAME) -> Iterator[DataStore]:
    """The endpoint in AWS_ENDPOINT_URL_DYNAMODB if set, else an embedded DynamoDB; the table made ready."""
    external = os.environ.get(ENDPOINT_VARIABLE, "").strip()
    if external:
        _check_reachable(external)
        dynamodb.use_local_aws(external)
        yield DataStore(external, table_name, embedded=False, table_created=_ensure_table(table_name, external))
        return
    # moto serves through werkzeug, whose request log would fill the console with its calls.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with dynamodb.embedded_dynamodb() as endpoint_url:
        dynamodb.use_local_aws(endpoint_url)
        yield DataStore(endpoint_url, table_name, embedded=True, table_created=_ensure_table(table_name, endpoint_url))


def _ensure_table(table_name: str, endpoint_url: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dynamodb.ensure_table(table_name, endpoint_url)
    except (BotoCoreError, ClientError) as error:
        raise CliError(f"cannot create the table {table_name!r} at {endpoint_url}: {error}") from None


def function_environment(app: sam.Application, key_file: Path, verbose: bool) -> tuple[dict[str, str], list[str]]:
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
            "AUTH_TABLE_NAME": sam.LOCAL_TABLE_NAME,
            "AUTH_JWKS_FILE": str(key_file),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_REGION": app.region,
        }
    )
    if not verbose:
        merged["POWERTOOLS_LOG_LEVEL"] = QUIET_LOG_LEVEL
    return merged, warnings


def local_functions(app: sam.Application) -> dict[str, LocalFunction]:
    """Each function of the template, ready to load and invoke in this process."""
    return {
        logical_id: LocalFunction(
            name=logical_id,
            code_dir=function.code_dir,
            handler=function.handler,
            layer_dirs=function.layer_dirs,
            timeout_seconds=function.timeout_seconds,
        )
        for logical_id, function in app.functions.items()
    }


def load_application() -> sam.Application:
    """The template, translated and read; a `CliError` when it cannot be."""
    try:
        return sam.load()
    except sam.TemplateError as error:
        raise CliError(str(error), exit_code=2) from None


def read_event(path: Path) -> object:
    """A JSON event file; a `CliError` naming the file when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CliError(f"cannot read the event file {path}: {error.strerror}", exit_code=2) from None
    except ValueError as error:
        raise CliError(f"the event file {path} is not JSON: {error}", exit_code=2) from None
