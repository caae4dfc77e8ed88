"""Sign-in sessions: every token belongs to one, and a token whose session has ended is refused.

One item per user, `sessions#<user_id>`, maps the id of each of the user's live sessions
to when it began and when its latest token expires. Starting a session adds an entry
(`start` on its own, `begin` in a transaction with the writes that justify it, such as a
check that the password a login verified is still the user's); ending one removes it;
ending every other (or every) session replaces the map in one write, so no session can
slip between a read and a write. Entries past their expiry are dropped when the next
session starts, and so is the oldest once a user has `MAX_SESSIONS`.
The authorizer reads one entry per check (it does so without this module's library, see
`session_check`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from .layout import sessions as key
from .table import TableModel, condition_failed

MAX_SESSIONS = 100  # live sessions per user; a new one past it ends the oldest (the item stays far below 400 KB)


@dataclass(frozen=True)
class Session:
    id: str
    user_id: int
    created_at: int  # epoch seconds
    expires_at: int  # epoch seconds: when its latest token expires


class SessionsItem(TableModel):
    sessions = MapAttribute[str, Any]()  # type: ignore[no-untyped-call]  # id -> {"created_at": N, "expires_at": N}


def _entries(item: SessionsItem) -> dict[str, Any]:
    entries: dict[str, Any] = item.sessions.as_dict() if item.sessions is not None else {}  # type: ignore[no-untyped-call]
    return entries


def new_id() -> str:
    """A session id: 128 random bits, base64url."""
    return secrets.token_urlsafe(16)


def _entry(created_at: int, expires_at: int) -> dict[str, int]:
    return {"created_at": int(created_at), "expires_at": int(expires_at)}


def start(user_id: int, session_id: str, created_at: int, expires_at: int, first: bool = False) -> None:
    """Record a new live session of `user_id`; forget the user's expired sessions, and past
    `MAX_SESSIONS` live ones, the oldest. `first` says the user has no sessions item yet (a
    signup): the write that creates it is tried first, saving a round trip."""
    item = SessionsItem(pk=key(user_id))
    entry = _entry(created_at, expires_at)
    add = ([SessionsItem.sessions[session_id].set(entry)], SessionsItem.sessions.exists())
    create = ([SessionsItem.sessions.set({session_id: entry})], SessionsItem.sessions.does_not_exist())
    attempts = [create, add, create] if first else [add, create, add]  # each fails only if the other just won
    for actions, condition in attempts:
        try:
            item.update(actions=actions, condition=condition)
            break
        except UpdateError as error:
            if not condition_failed(error):
                raise
    else:
        item.update(actions=add[0])
    recorded = [_session(user_id, sid, value) for sid, value in _entries(item).items()]
    ended = _ended(recorded, Session(session_id, user_id, int(created_at), int(expires_at)))
    if ended:
        item.update(actions=[SessionsItem.sessions[sid].remove() for sid in ended])


def _ended(recorded: list[Session], session: Session) -> list[str]:
    """The ids of `recorded` sessions to forget as `session` starts: the expired ones, and the
    oldest past `MAX_SESSIONS` live ones (`session` counted among them, and never ended)."""
    newest_first = sorted(recorded, key=lambda known: known.created_at, reverse=True)
    expired = [known.id for known in newest_first if known.expires_at <= session.created_at]
    kept = [known.id for known in newest_first if known.id not in expired and known.id != session.id]
    return expired + kept[MAX_SESSIONS - 1 :]


def recorded(user_id: int) -> list[Session] | None:
    """The user's recorded sessions (expired ones may be among them), or None when the user has no
    sessions item at all (never signed in since sessions exist, or every session ended by a global logout)."""
    try:
        item = SessionsItem.get(key(user_id), consistent_read=True)
    except DoesNotExist:
        return None
    if item.sessions is None:
        return None
    return [_session(user_id, sid, value) for sid, value in _entries(item).items()]


def begin(transaction: TransactWrite, session: Session, known: list[Session] | None) -> None:
    """In `transaction`: record `session` as live, forgetting what `start` forgets of the `known`
    sessions (`recorded` read them). The transaction fails if the user's sessions item was
    created or deleted since (read them again and retry)."""
    item = SessionsItem(pk=key(session.user_id))
    entry = _entry(session.created_at, session.expires_at)
    if known is None:
        created: list[Action] = [SessionsItem.sessions.set({session.id: entry})]
        transaction.update(item, actions=created, condition=SessionsItem.sessions.does_not_exist())
        return
    actions: list[Action] = [SessionsItem.sessions[session.id].set(entry)]
    actions += [SessionsItem.sessions[sid].remove() for sid in _ended(known, session)]
    transaction.update(item, actions=actions, condition=SessionsItem.sessions.exists())


def is_live(user_id: int, session_id: str) -> bool:
    """Whether the session is recorded as live (read strongly consistent)."""
    return any(session.id == session_id for session in recorded(user_id) or [])


def _session(user_id: int, session_id: str, value: Any) -> Session:
    return Session(session_id, user_id, int(value["created_at"]), int(value["expires_at"]))


def of(user_id: int) -> list[Session]:
    """The user's recorded sessions, newest first (expired ones may still be among them)."""
    return sorted(recorded(user_id) or [], key=lambda session: session.created_at, reverse=True)


def end(user_id: int, session_id: str) -> bool:
    """End one session; whether it was live."""
    try:
        SessionsItem(pk=key(user_id)).update(
            actions=[SessionsItem.sessions[session_id].remove()], condition=_live(session_id)
        )
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True


def end_all(user_id: int) -> None:
    """End every session of the user."""
    SessionsItem(pk=key(user_id)).delete()


def keep_only(transaction: TransactWrite, session: Session, while_live: str | None) -> None:
    """In `transaction`: end every session of the user, and make `session` (with its times) the one left.

    With `while_live`, a session id, the transaction fails unless that session is live when
    it commits (a concurrent logout of it wins); `session` may be it or its successor.
    """
    if while_live is not None:
        transaction.update(SessionsItem(pk=key(session.user_id)), actions=_only(session), condition=_live(while_live))
    else:
        transaction.save(SessionsItem(pk=key(session.user_id), sessions=_only_value(session)))


def end_others(user_id: int, session_id: str) -> bool:
    """End every session of the user but `session_id`; whether that one was live (if not, nothing changes)."""
    kept = next((session for session in of(user_id) if session.id == session_id), None)
    if kept is None:
        return False
    try:
        SessionsItem(pk=key(user_id)).update(actions=_only(kept), condition=_live(kept.id))
    except UpdateError as error:
        if condition_failed(error):
            return False  # ended meanwhile
        raise
    return True


def _live(session_id: str) -> Condition:
    """The condition that a session is live: its entry is in the map."""
    condition: Condition = SessionsItem.sessions[session_id].exists()
    return condition


def _only_value(session: Session) -> dict[str, Any]:
    return {session.id: _entry(session.created_at, session.expires_at)}


def _only(session: Session) -> list[Action]:
    """The update that leaves `session` the user's one session, with its times."""
    return [SessionsItem.sessions.set(_only_value(session))]
