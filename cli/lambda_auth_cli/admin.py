"""`lambda-auth users` and `lambda-auth token`: list users, and issue a token for one, from a table of users.

`directory` finds that table, and `command_errors` turns a command's failures into one
line; `sessions` and `logout` (user_sessions.py) use both.

Three places hold users, tried in this order:
- a deployed stack (`--stack NAME`): its table and its key secret, found from the
  stack's outputs `UsersTableName` and `TokenKeysSecretArn`;
- the running local server: it records its DynamoDB endpoint, table and key file in
  `.local/server.json` (beside its key file) while it runs, and the commands read that
  table directly, as the functions do;
- the DynamoDB endpoint in AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local), with the local key file.

A token is issued as login issues one: `tokens.issue` with the current key of the set,
for the user's id, with `extras` in its claims.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lambda_auth import signin, tokens
from lambda_auth.keys import KeySet, parse_key_set
from lambda_auth.store import sessions, users
from lambda_auth.validation import normalize_email

from . import local_aws, template
from .console import CliError, note, say
from .jwks_file import JwksFile
from .stacks import Stack

SERVER_RECORD_NAME = "server.json"
LIFETIME_PARAMETER = "TokenTtlSeconds"
SESSION_CHECK_PARAMETER = "SessionCheckSeconds"

UserRef = int | str  # a user's id, or their email
Progress = Callable[[int], None]


class UserNotFound(LookupError):
    """No user has the id or email asked for."""


@dataclass(frozen=True)
class IssuedToken:
    """A token, the user it is for, and when it expires (epoch seconds)."""

    token: str
    user: users.User
    expires_at: int


def describe(who: UserRef) -> str:
    """`user 7` or `user with email ada@example.com`, for messages."""
    return f"user {who}" if isinstance(who, int) else f"user with email {who}"


def user_json(user: users.User) -> dict[str, Any]:
    """A user as Run & Debug and `users --json` show it: /auth/me's four fields."""
    return asdict(user)


@dataclass
class UserDirectory:
    """The table the layer's store is pointed at, and the keys that issue tokens for its users."""

    read_keys: Callable[[], KeySet]
    default_ttl_seconds: int
    description: str
    progress: Progress | None = None
    # How long an authorizer may trust a session it has checked: a stack's SessionCheckSeconds;
    # the local server checks every request.
    session_check_seconds: int = 0

    def list_users(self, search: str, limit: int) -> list[users.User]:
        """Up to `limit` users whose email contains `search`, in id order."""
        return users.list_users(search, limit, self.progress)

    def find(self, who: UserRef) -> users.User:
        """The user with this id or email; `UserNotFound` if there is none."""
        user = users.get_user(who) if isinstance(who, int) else users.find_user_by_email(normalize_email(who))
        if user is None:
            raise UserNotFound(f"no {describe(who)} in {self.description}")
        return user

    def issue(self, who: UserRef, ttl_seconds: int | None, extras: dict[str, Any]) -> IssuedToken:
        """A token for the user, valid `ttl_seconds` (default: the directory's token lifetime).

        No token outlives that lifetime (TokenTtlSeconds), so that `keys prune`, which waits
        for it, never removes a key that still has live tokens.
        """
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
        return IssuedToken(token=token, user=user, expires_at=session.expires_at)


# The running server's record, beside its key file.


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

    @property
    def credentials(self) -> local_aws.LocalCredentials | None:
        if self.access_key_id is None or self.secret_access_key is None:
            return None
        return local_aws.LocalCredentials(self.access_key_id, self.secret_access_key)

    @staticmethod
    def path(key_file: Path) -> Path:
        """Where the server that uses `key_file` keeps its record while it runs."""
        return key_file.expanduser().absolute().parent / SERVER_RECORD_NAME

    def write(self) -> None:
        """Record this server, atomically, readable by its owner only."""
        path = self.path(Path(self.key_file))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{self.pid}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(asdict(self)) + "\n")
        os.replace(temporary, path)

    def remove(self) -> None:
        """Remove the record if it is still this server's."""
        path = self.path(Path(self.key_file))
        if ServerRecord.read(path) == self:
            path.unlink(missing_ok=True)

    @staticmethod
    def read(path: Path) -> ServerRecord | None:
        try:
            return ServerRecord(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    @classmethod
    def running(cls, key_file: Path) -> ServerRecord | None:
        """The record of the running server that uses `key_file`, or None (no record, or its process is gone)."""
        record = cls.read(cls.path(key_file))
        return record if record is not None and _alive(record.pid) else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def directory(stack_name: str | None, key_file: Path, progress: Progress | None = None) -> UserDirectory:
    """Where the admin commands look: a stack, else the running local server, else a DynamoDB endpoint."""
    default_ttl = int(template.parameter(LIFETIME_PARAMETER).default)
    if stack_name:
        stack = Stack.describe(stack_name)
        table_name, secret_arn = stack.output("UsersTableName"), stack.output("TokenKeysSecretArn")
        local_aws.apply({"AUTH_TABLE_NAME": table_name})

        def read_secret() -> KeySet:
            # Read only when a token is issued: listing users needs no access to the secret.
            from .key_rotation import KeySecret

            return parse_key_set(json.dumps(KeySecret(secret_arn).read()[0]))

        ttl = int(stack.parameters.get(LIFETIME_PARAMETER, default_ttl))
        check = int(stack.parameters.get(SESSION_CHECK_PARAMETER, template.parameter(SESSION_CHECK_PARAMETER).default))
        return UserDirectory(read_secret, ttl, f"table {table_name} of stack {stack_name}", progress, check)
    record = ServerRecord.running(key_file)
    if record is not None:
        local_aws.use_endpoint(record.dynamodb_endpoint, record.table_name, record.credentials)
        keys = JwksFile(Path(record.key_file))
        return UserDirectory(keys.key_set, default_ttl, f"the local server at {record.url}", progress)
    endpoint = os.environ.get(local_aws.ENDPOINT_VARIABLE, "").strip()
    if endpoint:
        local_aws.use_endpoint(endpoint)
        description = f"table {template.LOCAL_TABLE_NAME!r} at {endpoint} ({local_aws.ENDPOINT_VARIABLE})"
        return UserDirectory(JwksFile(key_file).key_set, default_ttl, description, progress)
    raise CliError(
        f"no local server is running with the key file {key_file} (start one with `make run`);"
        f" or set {local_aws.ENDPOINT_VARIABLE} to a DynamoDB endpoint, or pass --stack NAME"
    )


# The commands


def command_errors(command: str, run: Callable[[], int]) -> int:
    """Run an admin command; its failures become one line: 1 at run time, 2 for a bad value."""
    try:
        return run()
    except CliError:
        raise
    except UserNotFound as error:
        raise CliError(str(error)) from None
    except ValueError as error:
        raise CliError(f"{command}: {error}", exit_code=2) from None
    except Exception as error:  # AWS, network, file and key errors alike: one line, no traceback
        raise CliError(f"{command}: {type(error).__name__}: {error}") from None


def utc(epoch_seconds: float) -> str:
    """A time for people: `2026-11-28 22:35:01`, in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_seconds))


def _scan_progress() -> Progress:
    """A progress line on stderr for each page of a scan after the first: only long scans show one."""
    pages = [0]

    def report(scanned: int) -> None:
        pages[0] += 1
        if pages[0] > 1:
            note(f"scanned {scanned} items...")

    return report


def users_command(args: argparse.Namespace) -> int:
    """List users: id, email, name, creation time; a table, or JSON with --json."""

    def run() -> int:
        where = directory(args.stack, args.jwks, _scan_progress())
        found = where.list_users(args.search, args.limit)
        if args.json:
            say(json.dumps([user_json(user) for user in found], indent=2, ensure_ascii=False))
        elif found:
            widths = [
                max(len(field), *(len(str(getattr(user, field))) for user in found))
                for field in ("id", "email", "name")
            ]
            say(f"{'id':>{widths[0]}}  {'email':<{widths[1]}}  {'name':<{widths[2]}}  created (UTC)")
            for user in found:
                created = utc(user.created_at / 1000)
                say(f"{user.id:>{widths[0]}}  {user.email:<{widths[1]}}  {user.name:<{widths[2]}}  {created}")
        matching = f" whose email contains {args.search!r}" if args.search else ""
        summary = f"{len(found)} user{'' if len(found) == 1 else 's'}{matching} in {where.description}"
        if len(found) == args.limit:
            summary += f"; stopped at --limit {args.limit}, there may be more (--search narrows)"
        note(summary)
        return 0

    return command_errors("users", run)


def token_command(args: argparse.Namespace) -> int:
    """Print a token for one user (stdout: the token alone; stderr: whose it is and until when)."""
    try:
        extras = json.loads(args.extras)
    except ValueError as error:
        raise CliError(f"--extras is not JSON: {error}", exit_code=2) from None
    if not isinstance(extras, dict):
        raise CliError('--extras must be a JSON object, e.g. \'{"role": "admin"}\'', exit_code=2)

    def run() -> int:
        who: UserRef = args.id if args.id is not None else args.email
        where = directory(args.stack, args.jwks)
        issued = where.issue(who, args.ttl, extras)
        say(issued.token)
        note(
            f"a token for user {issued.user.id} ({issued.user.email}) from {where.description},"
            f" valid until {utc(issued.expires_at)} UTC"
        )
        return 0

    return command_errors("token", run)
