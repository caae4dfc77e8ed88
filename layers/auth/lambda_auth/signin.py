"""Tokens and the sign-in sessions they belong to: every token issued is for a session recorded in the table.

A session begins at signup, login, a password reset or `lambda-auth token`; a password
change gives the session it is made in a new id (`successor`), so that the tokens issued
before it are refused, and a token of the new id. The session lasts as long as its
latest token (`exp`), and the token names it in its `sid` claim.
"""

from __future__ import annotations

import time
from typing import Any

from . import keys, settings, tokens
from .store import sessions


def new_session(user_id: int, ttl_seconds: int | None = None, now: float | None = None) -> sessions.Session:
    """A session that begins now and lasts one token's lifetime (the configured one unless given); not stored."""
    created_at = int(time.time() if now is None else now)
    ttl = settings.tokens().ttl_seconds if ttl_seconds is None else ttl_seconds
    return sessions.Session(sessions.new_id(), user_id, created_at, created_at + ttl)


def successor(session: sessions.Session, now: float | None = None) -> sessions.Session:
    """The session that takes over from `session`: the same user and start, a new id, lasting one
    token's lifetime from now; not stored."""
    expires_at = int(time.time() if now is None else now) + settings.tokens().ttl_seconds
    return sessions.Session(sessions.new_id(), session.user_id, session.created_at, expires_at)


def token_for(session: sessions.Session, extras: dict[str, Any] | None = None, now: float | None = None) -> str:
    """A token of `session`, issued now and expiring when the session ends."""
    issued_at = int(time.time() if now is None else now)
    key_set = keys.current_store().get()
    lifetime = session.expires_at - issued_at
    return tokens.issue(key_set, session.user_id, lifetime, extras, now=issued_at, session_id=session.id)


def start(
    user_id: int, extras: dict[str, Any] | None = None, ttl_seconds: int | None = None, first: bool = False
) -> str:
    """Begin a session for `user_id` (`first`: a user just created), record it, and return its token."""
    session = new_session(user_id, ttl_seconds)
    sessions.start(user_id, session.id, session.created_at, session.expires_at, first=first)
    return token_for(session, extras, now=session.created_at)
