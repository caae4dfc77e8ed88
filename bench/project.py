"""The one place the bench calls the project's own modules: the layer's and the CLI's.

Everything else in bench/ times what these give it, so when those modules change, this
file is the one to follow them. The layer reads its settings once, so nothing here is
called before `environment.Environment.prepare` has set the functions' variables.
"""

from __future__ import annotations

import json
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
    """A token for `user_id` from the current key of the key file, as login issues one."""
    from lambda_auth import keys, tokens

    return tokens.issue(keys.current_store().get(), user_id, TOKEN_TTL_SECONDS)


def current_key() -> Any:
    """The key that issues tokens (a jwcrypto JWK): what the authorizer's warm floor decrypts with."""
    from lambda_auth import keys

    return keys.current_store().get().current
