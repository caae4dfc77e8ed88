"""What `lambda-auth users` and `lambda-auth token` work on: a table of users and the keys that sign for it.

Three places hold users, tried in this order:
- a deployed stack (`--stack NAME`): its table and its key secret, found from the
  stack's outputs `UsersTableName` and `TokenKeysSecretArn`;
- the running local server: its embedded DynamoDB lives inside its process, so the
  commands ask the server's local-only endpoints (see `devtools`), found from the record
  the server keeps beside its key file while it runs (`.local/server.json`);
- the DynamoDB endpoint in AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local), with the local key file.

A token is issued as login issues one: `tokens.issue` with the current key of the set,
for the user's id, with `extras` in its claims.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from lambda_auth import tokens, users
from lambda_auth.keys import KeySet, KeySetError, parse_key_set

from . import dynamodb, keyring, sam, template
from .runtime import ENDPOINT_VARIABLE, CliError

SERVER_RECORD_NAME = "server.json"
MAX_TTL_SECONDS = 31_536_000  # the template's TokenTtlSeconds MaxValue: one year
DEFAULT_LIMIT = 50
SERVER_TIMEOUT_SECONDS = 30

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


class Directory(Protocol):
    """A table of users the admin commands can list and issue tokens for."""

    @property
    def description(self) -> str: ...

    def list_users(self, search: str, limit: int) -> list[users.User]: ...

    def issue(self, who: UserRef, ttl_seconds: int | None, extras: dict[str, Any]) -> IssuedToken: ...


def describe(who: UserRef) -> str:
    """`user 7` or `user with email ada@example.com`, for messages."""
    return f"user {who}" if isinstance(who, int) else f"user with email {who}"


def normalized_email(email: str) -> str:
    """An email as the store keeps it: trimmed and lower-cased, as signup stores it."""
    return email.strip().lower()


def template_token_ttl() -> int:
    """The template's default token lifetime (its TokenTtlSeconds parameter)."""
    return int(template.load()["Parameters"]["TokenTtlSeconds"]["Default"])


def check_ttl(ttl_seconds: int) -> int:
    """`ttl_seconds` if it is a lifetime a token may have; ValueError otherwise."""
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"a token lifetime is 1 to {MAX_TTL_SECONDS} seconds, not {ttl_seconds}")
    return ttl_seconds


@dataclass
class Store:
    """A table read directly (PynamoDB, as the functions read it) and the keys that issue tokens for it."""

    table_name: str
    read_keys: Callable[[], KeySet]
    default_ttl_seconds: int
    description: str
    progress: Progress | None = None

    def list_users(self, search: str, limit: int) -> list[users.User]:
        """Up to `limit` users whose email contains `search`, in id order."""
        users.bind(self.table_name)
        return users.list_users(search, limit, self.progress)

    def find(self, who: UserRef) -> users.User:
        """The user with this id or email; `UserNotFound` if there is none."""
        users.bind(self.table_name)
        user = users.get_user(who) if isinstance(who, int) else users.find_user_by_email(normalized_email(who))
        if user is None:
            raise UserNotFound(f"no {describe(who)} in {self.description}")
        return user

    def issue(self, who: UserRef, ttl_seconds: int | None, extras: dict[str, Any]) -> IssuedToken:
        """A token for the user, valid `ttl_seconds` (default: the store's token lifetime)."""
        ttl = check_ttl(ttl_seconds if ttl_seconds is not None else self.default_ttl_seconds)
        user = self.find(who)
        issued_at = int(time.time())
        token = tokens.issue(self.read_keys(), user.id, ttl, extras, now=issued_at)
        if len(token) > tokens.MAX_TOKEN_LENGTH:
            raise ValueError(
                f"the token would be {len(token)} characters, over the {tokens.MAX_TOKEN_LENGTH} the API accepts;"
                " use smaller extras"
            )
        return IssuedToken(token=token, user=user, expires_at=issued_at + ttl)


def key_file_reader(path: Path) -> Callable[[], KeySet]:
    """Reads the JWK Set file at `path` each time it is called, so a rotation is seen at once."""

    def read() -> KeySet:
        try:
            return parse_key_set(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise KeySetError(f"cannot read the key file {path}: {error.strerror}") from None

    return read


def endpoint_store(endpoint_url: str, key_file: Path, progress: Progress | None = None) -> Store:
    """The local table at a DynamoDB endpoint (DynamoDB Local), with the local key file."""
    dynamodb.use_local_aws(endpoint_url)
    return Store(
        table_name=sam.LOCAL_TABLE_NAME,
        read_keys=key_file_reader(key_file),
        default_ttl_seconds=template_token_ttl(),
        description=f"table {sam.LOCAL_TABLE_NAME!r} at {endpoint_url} ({ENDPOINT_VARIABLE})",
        progress=progress,
    )


def stack_store(stack_name: str, progress: Progress | None = None, cloudformation: Any = None) -> Store:
    """A deployed stack's table and key secret, from its outputs; its TokenTtlSeconds as the default lifetime."""
    if cloudformation is None:
        import boto3

        cloudformation = boto3.client("cloudformation")
    table_name = keyring.stack_output(stack_name, "UsersTableName", cloudformation)
    secret_arn = keyring.stack_output(stack_name, "TokenKeysSecretArn", cloudformation)
    try:
        ttl = int(keyring.stack_parameter(stack_name, "TokenTtlSeconds", cloudformation))
    except LookupError:
        ttl = template_token_ttl()

    def read_keys() -> KeySet:
        # Read only when a token is issued: listing users needs no access to the secret.
        return parse_key_set(json.dumps(keyring.KeySecret(secret_arn).read()))

    return Store(
        table_name=table_name,
        read_keys=read_keys,
        default_ttl_seconds=ttl,
        description=f"table {table_name} of stack {stack_name}",
        progress=progress,
    )


# The running server's record, beside its key file.


def server_record_path(key_file: Path) -> Path:
    """Where the server that uses `key_file` records its URL while it runs."""
    return key_file.expanduser().absolute().parent / SERVER_RECORD_NAME


def write_server_record(key_file: Path, url: str, pid: int) -> Path:
    """Record that the server with `pid` answers at `url` (scheme://host:port); its path."""
    path = server_record_path(key_file)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    record = {"url": url, "pid": pid, "key_file": str(key_file.expanduser().absolute())}
    temporary = path.with_name(f".{path.name}.{pid}")
    temporary.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def remove_server_record(key_file: Path, pid: int) -> None:
    """Remove the record if it is still the one the server with `pid` wrote."""
    path = server_record_path(key_file)
    record = _read_record(path)
    if record is not None and record.get("pid") == pid:
        path.unlink(missing_ok=True)


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def running_server(key_file: Path) -> str | None:
    """The URL of the running server that uses `key_file`, or None (no record, or its process is gone)."""
    record = _read_record(server_record_path(key_file))
    if record is None or not isinstance(record.get("url"), str) or not _alive(record.get("pid")):
        return None
    return str(record["url"])


@dataclass
class ServerClient:
    """The running local server, through its local-only endpoints (`/_local/...`)."""

    url: str  # scheme://host:port

    @property
    def description(self) -> str:
        """Where the users are, for messages."""
        return f"the local server at {self.url}"

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=SERVER_TIMEOUT_SECONDS
        )
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            status, text = response.status, response.read().decode("utf-8", "replace")
        except OSError as error:
            raise CliError(
                f"the local server at {self.url} does not answer ({error}); is `lambda-auth serve` still running?"
            ) from None
        finally:
            connection.close()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = {}
        message = answer.get("message") if isinstance(answer, dict) else None
        if status == 404 and isinstance(message, str):
            raise UserNotFound(message)
        if status == 400 and isinstance(message, str):
            raise ValueError(message)  # what was asked cannot be done: a usage error, as when issued here
        if status != 200:
            raise CliError(f"the local server at {self.url} answered {status}: {message or text[:200]}")
        return answer

    def list_users(self, search: str, limit: int) -> list[users.User]:
        """Up to `limit` users whose email contains `search`, in id order, from the server's store."""
        answer = self._request("GET", "/_local/users?" + urlencode({"search": search, "limit": limit}))
        return [users.User(**entry) for entry in answer["users"]]

    def issue(self, who: UserRef, ttl_seconds: int | None, extras: dict[str, Any]) -> IssuedToken:
        """A token for the user, issued by the server with its own keys."""
        body: dict[str, Any] = {"id": who} if isinstance(who, int) else {"email": who}
        body["extras"] = extras
        if ttl_seconds is not None:
            body["ttl"] = ttl_seconds
        answer = self._request("POST", "/_local/token", body)
        return IssuedToken(
            token=answer["authToken"], user=users.User(**answer["user"]), expires_at=answer["expires_at"]
        )


def user_json(user: users.User) -> dict[str, Any]:
    """A user as the local endpoints and `users --json` show it: /auth/me's four fields."""
    return asdict(user)


def directory(stack: str | None, key_file: Path, progress: Progress | None = None) -> Directory:
    """Where the admin commands look: a stack, else the running local server, else a DynamoDB endpoint."""
    if stack:
        return stack_store(stack, progress)
    url = running_server(key_file)
    if url is not None:
        return ServerClient(url)
    endpoint = os.environ.get(ENDPOINT_VARIABLE, "").strip()
    if endpoint:
        return endpoint_store(endpoint, key_file.expanduser().absolute(), progress)
    raise CliError(
        f"no local server is running with the key file {key_file} (start one with `make run`);"
        f" or set {ENDPOINT_VARIABLE} to a DynamoDB endpoint, or pass --stack NAME"
    )
