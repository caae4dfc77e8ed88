"""The domain of GET /auth/me: the profile of the user the authorizer found in the token.

Kept apart from `auth` (signup and login) so that the me function, at cold start,
imports the user store and nothing of passwords, tokens, keys or limits.
"""

from __future__ import annotations

from typing import Any

from . import settings
from .errors import Unauthorized
from .store import users

# Read once per cold start: a missing setting fails the import, naming the variable.
settings.table()


def profile(user_id: int) -> dict[str, Any]:
    """The record /auth/me returns: exactly id, created_at, name and email."""
    user = users.get_user(user_id)
    if user is None:
        raise Unauthorized("the token's user no longer exists")
    return {"id": user.id, "created_at": user.created_at, "name": user.name, "email": user.email}
