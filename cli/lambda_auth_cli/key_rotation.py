"""`lambda-auth keys`: rotation of the token keys, in the local file or in a deployed stack's secret.

`rotate` appends a fresh key, which issues every token from then on; the earlier keys
stay to verify the tokens they issued. `prune` drops a key once every token it can have
issued has expired. A key stops issuing when its successor is added (the successor's
`created_at`) and the functions' key caches have refreshed (`refresh_grace`), so it can
go `max_token_lifetime` seconds after that.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from lambda_auth.keys import as_key_set, new_key, parse_key_set

from . import template
from .console import CliError, say
from .jwks_file import JwksFile
from .stacks import Stack


class KeyLocation(Protocol):
    """Where a JWK Set is kept: the local file (`jwks_file.JwksFile`) or a stack's secret (`KeySecret`)."""

    @property
    def description(self) -> str: ...

    def read(self) -> dict[str, Any]: ...

    def write(self, document: dict[str, Any]) -> None: ...


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


def _location(args: argparse.Namespace) -> tuple[KeyLocation, int]:
    """Where the keys are, and the longest lifetime of a token they issue."""
    if args.stack:
        stack = Stack.describe(args.stack)
        secret = KeySecret(stack.output("TokenKeysSecretArn"))
        return secret, args.token_ttl or int(stack.parameters["TokenTtlSeconds"])
    return JwksFile(args.jwks), args.token_ttl or int(template.parameter("TokenTtlSeconds").default)


def command(args: argparse.Namespace) -> int:
    """List, rotate or prune the token keys; never print a key's secret."""
    try:
        location, token_ttl = _location(args)
        document = location.read()
        if args.action == "rotate":
            document, kid = rotate(document)
            location.write(document)
            say(f"lambda-auth: added key {kid} to {location.description}; it issues new tokens now")
        elif args.action == "prune":
            document, removed = prune(document, token_ttl)
            if removed:
                location.write(document)
            gone = ", ".join(removed) if removed else "none: every key may still have live tokens"
            say(f"lambda-auth: pruned from {location.description}: {gone}")
        for position, key in enumerate(document["keys"]):
            role = "issues and verifies" if position == len(document["keys"]) - 1 else "verifies"
            created = key.get("created_at")
            when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(created)) if created else "creation time unknown"
            say(f"  {key.get('kid')}  {role}  ({when})")
    except CliError:
        raise
    except Exception as error:  # AWS, file and JSON errors alike: one line, no traceback
        raise CliError(f"keys {args.action}: {type(error).__name__}: {error}") from None
    return 0
