"""`lambda-auth keys`: rotation of the token keys, in the local file or in a deployed stack's secret.

`rotate` appends a fresh key. It verifies at once, and issues from its `issues_from`:
once every function instance has read the new set (their key cache time and a minute),
so no token meets an instance that cannot verify it. The earlier keys stay to verify the
tokens they issued. `prune` drops a key once every token it can have issued has expired:
the longest a token lives after the key's successor began to issue.

The file and the secret are read with a version and written only if they still hold it,
so two rotations at once cannot both write a set that lacks the other's key.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from typing import Any

from lambda_auth.keys import as_key_set, new_key, parse_key_set
from lambda_auth.settings import DEFAULT_KEYS_CACHE_SECONDS

from . import template
from .console import CliError, command_errors, say, utc
from .jwks_file import JwksFile
from .stacks import Stack

# Functions keep a key set for AUTH_KEYS_CACHE_SECONDS; a new key issues once every
# instance has read it, and a minute more covers the clocks' skew.
CLOCK_SKEW_SECONDS = 60
ACTIVATION_SECONDS = DEFAULT_KEYS_CACHE_SECONDS + CLOCK_SKEW_SECONDS


class KeySecret:
    """The stack's Secrets Manager secret. A write is a new version, made current only if the
    version read is still the current one (Secrets Manager's stages, moved in one call)."""

    def __init__(self, secret_id: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        self.secret_id, self.client = secret_id, client

    def read(self) -> tuple[dict[str, Any], str]:
        value = self.client.get_secret_value(SecretId=self.secret_id, VersionStage="AWSCURRENT")
        return as_key_set(json.loads(value["SecretString"])), str(value["VersionId"])

    def write(self, document: dict[str, Any], version: str) -> None:
        parse_key_set(json.dumps(document))  # never write a set the functions cannot load
        written = self.client.put_secret_value(
            SecretId=self.secret_id, SecretString=json.dumps(document), VersionStages=["AWSPENDING"]
        )
        try:
            self.client.update_secret_version_stage(
                SecretId=self.secret_id,
                VersionStage="AWSCURRENT",
                MoveToVersionId=written["VersionId"],
                RemoveFromVersionId=version,
            )
        except self.client.exceptions.InvalidParameterException:
            raise CliError(f"{self.secret_id} changed since it was read (another rotation?); run it again") from None


def rotate(document: dict[str, Any], now: float | None = None) -> tuple[dict[str, Any], str]:
    """Append a new key that issues from `ACTIVATION_SECONDS` on; return the new set and its kid."""
    created_at = int(time.time() if now is None else now)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created_at))
    kids = {key.get("kid") for key in document["keys"]}
    candidates = (f"{stamp}-{suffix}" if suffix > 1 else stamp for suffix in itertools.count(1))
    kid = next(kid for kid in candidates if kid not in kids)  # two rotations in one second still get distinct kids
    key = {**new_key(kid), "created_at": created_at, "issues_from": created_at + ACTIVATION_SECONDS}
    return {"keys": [*document["keys"], key]}, kid


def prunable(document: dict[str, Any], max_token_lifetime: int, now: float | None = None) -> list[str]:
    """The kids of keys all of whose tokens have expired: retired (when their successor began to issue)
    longer ago than the longest token lives. A key whose successor has neither time (a set written by hand) is kept."""
    current_time = time.time() if now is None else now
    expired = []
    for key, successor in itertools.pairwise(document["keys"]):
        retired_at, created = successor.get("issues_from"), successor.get("created_at")
        if not isinstance(retired_at, int | float):  # a successor added before keys had issues_from issued at once
            retired_at = created + DEFAULT_KEYS_CACHE_SECONDS if isinstance(created, int | float) else None
        if retired_at is not None and current_time - retired_at > max_token_lifetime + CLOCK_SKEW_SECONDS:
            expired.append(str(key.get("kid")))
    return expired


def prune(document: dict[str, Any], token_lifetime: int, now: float | None = None) -> tuple[dict[str, Any], list[str]]:
    """Remove the prunable keys; the last key always stays."""
    removed = prunable(document, token_lifetime, now)
    kept = [key for key in document["keys"] if str(key.get("kid")) not in removed]
    return {"keys": kept}, removed


def command(args: argparse.Namespace) -> int:
    """List, rotate or prune the token keys; never print a key's secret."""
    with command_errors(f"keys {args.action}", bad_values=False):
        # The longest a token can live is the lifetime the deployment is configured with (no token,
        # the admin command's included, may outlive it); `--token-ttl` can only lengthen it, for
        # tokens issued before the lifetime was shortened.
        location: JwksFile | KeySecret
        if args.stack:
            stack = Stack.describe(args.stack)
            location = KeySecret(stack.output("TokenKeysSecretArn"))
            where, configured = location.secret_id, int(stack.parameters["TokenTtlSeconds"])
        else:
            location, configured = JwksFile(args.jwks), int(template.parameter("TokenTtlSeconds").default)
            where = str(location.path)
        document, version = location.read()
        if args.action == "rotate":
            document, kid = rotate(document)
            location.write(document, version)
            starts = utc(document["keys"][-1]["issues_from"])
            say(f"lambda-auth: added key {kid} to {where}; it verifies now, and issues from {starts}Z")
        elif args.action == "prune":
            document, removed = prune(document, max(configured, args.token_ttl or 0))
            if removed:
                location.write(document, version)
            gone = ", ".join(removed) if removed else "none: every key may still have live tokens"
            say(f"lambda-auth: pruned from {where}: {gone}")
        issuing = parse_key_set(json.dumps(document)).issuing_kid()
        for key in document["keys"]:
            role = "issues and verifies" if key.get("kid") == issuing else "verifies"
            if key.get("issues_from", 0) > time.time():
                role += f"; issues from {utc(key['issues_from'])}Z"
            created = f"added {utc(key['created_at'])}Z" if key.get("created_at") else "creation time unknown"
            say(f"  {key.get('kid')}  {role}  ({created})")
    return 0
