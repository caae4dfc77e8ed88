"""The domain of POST /auth/logout: end this session, every other one of the user, or all of them.

As Supabase's signOut scopes: `local` (the default) ends the session the token belongs to,
`others` every session of the user but this one, `global` all of them.
"""

from __future__ import annotations

from typing import Any

from . import settings
from .errors import Unauthorized
from .observability import logger
from .store import sessions
from .validation import logout_input

# Read once per cold start: a missing setting fails the import, naming the variable.
settings.table()


def logout(user_id: int, session_id: str, document: dict[str, Any]) -> dict[str, Any]:
    """End the sessions `document`'s scope names; the answer is an empty object."""
    scope = logout_input(document)
    if scope == "global":
        sessions.end_all(user_id)
    elif scope == "others":
        if not sessions.end_others(user_id, session_id):
            raise Unauthorized("the session has ended")
    else:
        sessions.end(user_id, session_id)
    logger.info("user logged out", extra={"user_id": user_id, "scope": scope})
    return {}
