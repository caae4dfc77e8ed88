"""The one place the bench calls the project's own modules: the layer's and the CLI's.

Everything else in bench/ times what these give it, so when those modules change, this
file is the one to follow them. The layer reads its settings once, so nothing here is
called before `environment.Environment.prepare` has set the functions' variables.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TOKEN_TTL_SECONDS = 3600


def write_key_file(path: Path) -> None:
    """A JWK Set with one fresh key, as the functions read it from AUTH_JWKS_FILE."""
    from lambda_auth.keys import new_key

    path.write_text(json.dumps({"keys": [new_key("bench")]}))


def create_table(table: str, endpoint: str) -> None:
    """The users table, as template.yaml defines it, on `endpoint`."""
    from lambda_auth_cli import local_aws

    local_aws.ensure_table(table, endpoint)


def create_user(email: str, password_hash: str) -> int:
    """A user stored as signup stores one, in the table of AUTH_TABLE_NAME; their id."""
    from lambda_auth.store import users

    return users.create_user(email, "Ada", password_hash, 0).id


def hash_password(password: str) -> str:
    """The layer's argon2id hash, with the parameters it records."""
    from lambda_auth import passwords

    return passwords.hash_password(password)


def issue_token(user_id: int) -> str:
    """A token for `user_id` from the current key of the key file, in a session of its own recorded in
    the table, as login issues one."""
    from lambda_auth import signin

    return signin.start(user_id, ttl_seconds=TOKEN_TTL_SECONDS)


def session_key(user_id: int) -> dict[str, Any]:
    """The table key of `user_id`'s sessions: the item the authorizer reads to check a token's session."""
    from lambda_auth.store import layout

    return {"pk": {"S": layout.sessions(user_id)}}


def current_key() -> Any:
    """The key that issues tokens (a jwcrypto JWK): what the authorizer's warm floor decrypts with."""
    from lambda_auth import keys

    return keys.current_store().get().current


def create_user_with_reset_code(email: str, password: str, code: str) -> int:
    """A user, and a reset code pending for them, as the mailer stores one (valid an hour)."""
    import time

    from lambda_auth import passwords
    from lambda_auth.store import resets

    user_id = create_user(email, passwords.hash_password(password))
    resets.put(email, user_id, passwords.hash_password(code), int(time.time()) + 3600)
    return user_id


@contextlib.contextmanager
def lambda_endpoint() -> Iterator[None]:
    """Lambda's Invoke API on loopback, as `lambda-auth serve` answers it, for the reset request's hand-over
    to the mailer; the mailer itself does nothing here (the request is what is timed)."""
    from lambda_auth import settings
    from lambda_auth_cli import local_aws, server

    class Mailer:
        def invoke(self, event: Any, request_id: str | None = None) -> None:
            return None

    api = local_aws.LambdaInvokeApi({"PasswordResetMailerFunction": Mailer()})
    with server.lambda_endpoint(api) as endpoint:
        previous = os.environ.get("AWS_ENDPOINT_URL_LAMBDA")
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = endpoint
        settings.reset()
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL_LAMBDA", None)
            else:
                os.environ["AWS_ENDPOINT_URL_LAMBDA"] = previous
            settings.reset()


def start_session(user_id: int) -> str:
    """A session of `user_id` recorded as login records one; its id (what the authorizer passes on)."""
    from lambda_auth import signin
    from lambda_auth.store import sessions

    session = signin.new_session(user_id)
    sessions.start(user_id, session.id, session.created_at, session.expires_at)
    return session.id
