"""Every item's key, `pk`, in the one table: its whole layout in one place, importable without PynamoDB.

- `user#<id>`          a profile (`users`)
- `email#<email>`      a user's credentials (`users`)
- `counter#user`       the last user id handed out (`users`)
- `limit#<limit>#<subject>`  attempts counted against a brute-force limit (`attempts`)
- `sessions#<user id>` the user's live sign-in sessions, in its `sessions` map (`sessions`)
- `reset#<email>`      a pending password-reset code (`resets`)
"""

from __future__ import annotations

USER_COUNTER = "counter#user"
SESSIONS_ATTRIBUTE = "sessions"


PROFILE_PREFIX = "user#"


def profile(user_id: int) -> str:
    return f"{PROFILE_PREFIX}{user_id}"


def credentials(email: str) -> str:
    return f"email#{email}"


def attempts(limit: str, subject: str) -> str:
    return f"limit#{limit}#{subject}"


def sessions(user_id: int) -> str:
    return f"sessions#{user_id}"


def reset(email: str) -> str:
    return f"reset#{email}"
