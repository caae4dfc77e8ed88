"""Key rotation for the token keys, in the local file or in a deployed stack's secret.

`rotate` appends a fresh key, which issues every token from then on; the earlier keys
stay to verify the tokens they issued. `prune` drops a key once every token it can have
issued has expired. A key stops issuing when its successor is added (the successor's
`created_at`) and the functions' key caches have refreshed (`refresh_grace`), so it can
go `max_token_lifetime` seconds after that.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lambda_auth.keys import as_key_set, new_key, parse_key_set


class KeyLocation(Protocol):
    """Where a JWK Set is kept."""

    @property
    def description(self) -> str: ...

    def read(self) -> dict[str, Any]: ...

    def write(self, document: dict[str, Any]) -> None: ...


@dataclass
class KeyFile:
    """A JWK Set file, written atomically and readable by its owner only."""

    path: Path

    @property
    def description(self) -> str:
        return str(self.path)

    def read(self) -> dict[str, Any]:
        return as_key_set(json.loads(self.path.read_text(encoding="utf-8")))

    def write(self, document: dict[str, Any]) -> None:
        parse_key_set(json.dumps(document))  # never write a set the functions cannot load
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".jwks-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream, indent=2)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            os.unlink(temporary)
            raise


@dataclass
class KeySecret:
    """The stack's Secrets Manager secret; each write is a new secret version."""

    secret_id: str
    client: Any = None

    def __post_init__(self) -> None:
        if self.client is None:
            import boto3

            self.client = boto3.client("secretsmanager")

    @property
    def description(self) -> str:
        return self.secret_id

    def read(self) -> dict[str, Any]:
        value = self.client.get_secret_value(SecretId=self.secret_id)
        return as_key_set(json.loads(value["SecretString"]))

    def write(self, document: dict[str, Any]) -> None:
        parse_key_set(json.dumps(document))
        self.client.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps(document))


def rotate(document: dict[str, Any], now: float | None = None) -> tuple[dict[str, Any], str]:
    """Append a new current key; return the new set and the new key's kid."""
    created_at = int(time.time() if now is None else now)
    kids = {key.get("kid") for key in document["keys"]}
    kid = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created_at))
    suffix = 1
    while kid in kids:  # two rotations in one second still get distinct kids
        suffix += 1
        kid = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(created_at))}-{suffix}"
    key = {**new_key(kid), "created_at": created_at}
    return {"keys": [*document["keys"], key]}, kid


# Functions keep a key set for AUTH_KEYS_CACHE_SECONDS (300 by default), so a retired key
# may issue tokens that long after a rotation; a minute more covers clock skew.
DEFAULT_REFRESH_GRACE_SECONDS = 300 + 60


def prunable(
    document: dict[str, Any],
    max_token_lifetime: int,
    now: float | None = None,
    refresh_grace: int = DEFAULT_REFRESH_GRACE_SECONDS,
) -> list[str]:
    """The kids of keys all of whose tokens have expired. A key whose successor has no
    `created_at` (the stack's first key has none) is kept until that successor is retired."""
    current_time = time.time() if now is None else now
    keys = document["keys"]
    expired = []
    for key, successor in itertools.pairwise(keys):
        retired_at = successor.get("created_at")
        if isinstance(retired_at, int | float) and current_time - retired_at > max_token_lifetime + refresh_grace:
            expired.append(str(key.get("kid")))
    return expired


def prune(
    document: dict[str, Any],
    max_token_lifetime: int,
    now: float | None = None,
    refresh_grace: int = DEFAULT_REFRESH_GRACE_SECONDS,
) -> tuple[dict[str, Any], list[str]]:
    """Remove the prunable keys; the current (last) key always stays."""
    removed = prunable(document, max_token_lifetime, now, refresh_grace)
    kept = [key for key in document["keys"] if str(key.get("kid")) not in removed]
    return {"keys": kept}, removed


def _describe_stack(stack_name: str, client: Any) -> dict[str, Any]:
    if client is None:
        import boto3

        client = boto3.client("cloudformation")
    stack: dict[str, Any] = client.describe_stacks(StackName=stack_name)["Stacks"][0]
    return stack


def stack_output(stack_name: str, output_key: str, client: Any = None) -> str:
    """One output of a deployed CloudFormation stack, e.g. TokenKeysSecretArn."""
    for output in _describe_stack(stack_name, client).get("Outputs", []):
        if output["OutputKey"] == output_key:
            return str(output["OutputValue"])
    raise LookupError(f"stack {stack_name} has no output {output_key}")


def stack_parameter(stack_name: str, parameter_key: str, client: Any = None) -> str:
    """One parameter value of a deployed CloudFormation stack, e.g. TokenTtlSeconds."""
    for parameter in _describe_stack(stack_name, client).get("Parameters", []):
        if parameter["ParameterKey"] == parameter_key:
            return str(parameter["ParameterValue"])
    raise LookupError(f"stack {stack_name} has no parameter {parameter_key}")
