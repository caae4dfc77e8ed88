"""`lambda-auth users` and `lambda-auth token`: the users of a table, and a token for one, issued
as login issues one, in a session of its own.

`directory` finds the table (for `sessions` and `logout` too), trying in order: a deployed stack
(`--stack NAME`: its outputs `UsersTableName` and `TokenKeysSecretArn`); the running local server,
which records its DynamoDB endpoint, table and key file in `server.json` beside its key file while
it runs; the DynamoDB endpoint in AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local), with the local key file.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lambda_auth import signin, tokens
from lambda_auth.keys import KeySet, parse_key_set
from lambda_auth.store import sessions, users
from lambda_auth.validation import normalize_email

from . import local_aws, template
from .console import CliError, command_errors, note, say, utc
from .jwks_file import JwksFile
from .key_rotation import KeySecret
from .stacks import Stack

UserRef = int | str  # a user's id, or their email


class UserNotFound(CliError):
    """No user has the id or email asked for."""


@dataclass
class UserDirectory:
    """The table the layer's store is pointed at, and the keys that issue tokens for its users."""

    read_keys: Callable[[], KeySet]
    default_ttl_seconds: int
    description: str
    # How long an authorizer may trust a session it has checked: a stack's SessionCheckSeconds;
    # the local server checks every request.
    session_check_seconds: int = 0

    def find(self, who: UserRef) -> users.User:
        user = users.get_user(who) if isinstance(who, int) else users.find_user_by_email(normalize_email(who))
        if user is None:
            what = who if isinstance(who, int) else f"with email {who}"
            raise UserNotFound(f"no user {what} in {self.description}")
        return user

    def issue(self, who: UserRef, ttl_seconds: int | None, extras: dict[str, Any]) -> tuple[str, users.User, int]:
        """A token for the user, the user, and its expiry (epoch seconds). No token outlives the lifetime
        (TokenTtlSeconds): `keys prune` waits that long, and must never remove a key with live tokens."""
        ttl = ttl_seconds if ttl_seconds is not None else self.default_ttl_seconds
        if not 1 <= ttl <= self.default_ttl_seconds:
            raise ValueError(
                f"a token lifetime is 1 to {self.default_ttl_seconds} seconds (TokenTtlSeconds), not {ttl}"
            )
        user = self.find(who)
        session = signin.new_session(user.id, ttl)
        token = tokens.issue(self.read_keys(), user.id, ttl, extras, now=session.created_at, session_id=session.id)
        if len(token) > tokens.MAX_TOKEN_LENGTH:
            raise ValueError(
                f"the token would be {len(token)} characters, over the {tokens.MAX_TOKEN_LENGTH} the API accepts;"
                " use smaller extras"
            )
        sessions.start(user.id, session.id, session.created_at, session.expires_at)  # every token has its session
        return token, user, session.expires_at


@dataclass(frozen=True)
class ServerRecord:
    """What a running `lambda-auth serve` tells the admin commands: where it answers, and where its data is."""

    url: str  # scheme://host:port
    pid: int
    key_file: str
    dynamodb_endpoint: str
    table_name: str
    # The embedded DynamoDB's credentials for this run (None for an endpoint of the developer's).
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)

    def write(self) -> None:
        path = _record_path(Path(self.key_file))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{self.pid}")
        with open(temporary, "w", encoding="utf-8", opener=lambda name, flags: os.open(name, flags, 0o600)) as stream:
            stream.write(json.dumps(asdict(self)) + "\n")
        os.replace(temporary, path)

    def remove(self) -> None:  # if the record is still this server's
        if _running(Path(self.key_file)) == self:
            _record_path(Path(self.key_file)).unlink(missing_ok=True)


def _record_path(key_file: Path) -> Path:
    return key_file.expanduser().absolute().parent / "server.json"


def _running(key_file: Path) -> ServerRecord | None:
    try:
        record = ServerRecord(**json.loads(_record_path(key_file).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if record.pid <= 0:
        return None
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: it exists
    return record


def directory(stack_name: str | None, key_file: Path) -> UserDirectory:
    default_ttl = int(template.parameter("TokenTtlSeconds").default)
    if stack_name:
        stack = Stack.describe(stack_name)
        table_name, secret_arn = stack.output("UsersTableName"), stack.output("TokenKeysSecretArn")
        local_aws.apply({"AUTH_TABLE_NAME": table_name})

        def read_secret() -> KeySet:  # only when a token is issued: listing users needs no access to the secret
            return parse_key_set(json.dumps(KeySecret(secret_arn).read()[0]))

        ttl = int(stack.parameters.get("TokenTtlSeconds", default_ttl))
        check = int(stack.parameters.get("SessionCheckSeconds", template.parameter("SessionCheckSeconds").default))
        return UserDirectory(read_secret, ttl, f"table {table_name} of stack {stack_name}", check)
    record = _running(key_file)
    if record is not None:
        credentials = None
        if record.access_key_id is not None and record.secret_access_key is not None:
            credentials = local_aws.LocalCredentials(record.access_key_id, record.secret_access_key)
        local_aws.use_endpoint(record.dynamodb_endpoint, record.table_name, credentials)
        return UserDirectory(JwksFile(Path(record.key_file)).key_set, default_ttl, f"the local server at {record.url}")
    endpoint = os.environ.get(local_aws.ENDPOINT_VARIABLE, "").strip()
    if endpoint:
        local_aws.use_endpoint(endpoint)
        description = f"table {template.LOCAL_TABLE_NAME!r} at {endpoint} ({local_aws.ENDPOINT_VARIABLE})"
        return UserDirectory(JwksFile(key_file).key_set, default_ttl, description)
    raise CliError(
        f"no local server is running with the key file {key_file} (start one with `make run`);"
        f" or set {local_aws.ENDPOINT_VARIABLE} to a DynamoDB endpoint, or pass --stack NAME"
    )


def users_command(args: argparse.Namespace) -> int:
    """List users: id, email, name, creation time; a table, or JSON with --json."""
    pages = itertools.count(1)

    def progress(scanned: int) -> None:  # a line on stderr per page after the first: only long scans show one
        if next(pages) > 1:
            note(f"scanned {scanned} items...")

    with command_errors("users"):
        where = directory(args.stack, args.jwks)
        found = users.list_users(args.search, args.limit, progress)
        if args.json:
            say(json.dumps([asdict(user) for user in found], indent=2, ensure_ascii=False))
        elif found:
            rows = [("id", "email", "name", "created (UTC)")]
            rows += [(str(user.id), user.email, user.name, utc(user.created_at / 1000)) for user in found]
            widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
            for user_id, email, name, created in rows:
                say(f"{user_id:>{widths[0]}}  {email:<{widths[1]}}  {name:<{widths[2]}}  {created}")
        matching = f" whose email contains {args.search!r}" if args.search else ""
        summary = f"{len(found)} user{'' if len(found) == 1 else 's'}{matching} in {where.description}"
        if len(found) == args.limit:
            summary += f"; stopped at --limit {args.limit}, there may be more (--search narrows)"
        note(summary)
    return 0


def token_command(args: argparse.Namespace) -> int:
    """Print a token for one user (stdout: the token alone; stderr: whose it is and until when)."""
    try:
        extras = json.loads(args.extras)
    except ValueError as error:
        raise CliError(f"--extras is not JSON: {error}", exit_code=2) from None
    if not isinstance(extras, dict):
        raise CliError('--extras must be a JSON object, e.g. \'{"role": "admin"}\'', exit_code=2)
    with command_errors("token"):
        where = directory(args.stack, args.jwks)
        token, user, expires_at = where.issue(args.id if args.id is not None else args.email, args.ttl, extras)
        say(token)
        note(f"a token for user {user.id} ({user.email}) from {where.description}, valid until {utc(expires_at)} UTC")
    return 0
