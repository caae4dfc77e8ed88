"""`lambda-auth sessions` and `lambda-auth logout`: one user's sign-in sessions, listed and ended,
in the table `lambda-auth users` would read (the running local server's, a DynamoDB
endpoint's, or with --stack a deployed stack's).

Every token belongs to a session (`lambda_auth.store.sessions`). Only live sessions are
shown and ended: once a session's latest token has expired it is over, whatever the table
still says (the store forgets it at the user's next sign-in), so `sessions` leaves it out
and says how many it left out. Session ids are shown: an id is no credential, a token is.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from lambda_auth.store import sessions, users

from .admin import UserDirectory, UserRef, command_errors, directory, utc
from .console import CliError, note, say

Session = sessions.Session


def live_sessions(user: users.User) -> tuple[list[Session], int]:
    """The user's live sessions, newest first, and how many recorded ones have expired.

    Times are whole seconds: sessions begun in the same second come in the order of their
    ids, so that every listing, and `logout`, agree on which is the newest.
    """
    now = time.time()
    recorded = sessions.of(user.id)
    live = [session for session in recorded if session.expires_at > now]
    live.sort(key=lambda session: (session.created_at, session.id), reverse=True)
    return live, len(recorded) - len(live)


def end_newest(user: users.User) -> list[Session]:
    """End the user's newest live session: the list of the one ended, empty if none was live.

    A session another logout ends meanwhile is skipped for the next newest.
    """
    for session in live_sessions(user)[0]:
        if sessions.end(user.id, session.id):
            return [session]
    return []


def end_all(user: users.User) -> list[Session]:
    """End every session of the user (one begun while this runs too): the live ones it ended."""
    live, _ = live_sessions(user)
    if live:
        sessions.end_all(user.id)
    return live


def _who(args: argparse.Namespace) -> UserRef:
    who: UserRef = args.id if args.id is not None else args.email
    return who


def _whose(user: users.User) -> str:
    return f"user {user.id} ({user.email})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _table(found: list[Session]) -> None:
    width = max(len("id"), *(len(session.id) for session in found))
    say(f"{'id':<{width}}  {'created (UTC)':<19}  expires (UTC)")
    for session in found:
        say(f"{session.id:<{width}}  {utc(session.created_at)}  {utc(session.expires_at)}")


def _refused_when(where: UserDirectory) -> str:
    seconds = where.session_check_seconds
    if seconds <= 0:
        return "from now on"
    return f"by every authorizer within {seconds} s (the stack's SessionCheckSeconds)"


def sessions_command(args: argparse.Namespace) -> int:
    """List one user's live sessions, newest first: a table, or a JSON array with --json."""

    def run() -> int:
        where = directory(args.stack, args.jwks)
        user = where.find(_who(args))
        live, expired = live_sessions(user)
        if args.json:
            say(json.dumps([asdict(session) for session in live], indent=2))
        elif live:
            _table(live)
        summary = f"{_plural(len(live), 'live session')} of {_whose(user)} in {where.description}"
        if expired:
            summary += f"; {expired} expired, not shown"
        note(summary)
        return 0

    return command_errors("sessions", run)


def logout_command(args: argparse.Namespace) -> int:
    """End the user's newest live session, or all of them with --all; print the sessions ended."""

    def run() -> int:
        where = directory(args.stack, args.jwks)
        user = where.find(_who(args))
        ended = end_all(user) if args.all else end_newest(user)
        if not ended:
            raise CliError(f"{_whose(user)} has no live sessions in {where.description}")
        _table(ended)
        if args.all:
            done = f"ended all sessions of {_whose(user)} in {where.description} ({len(ended)} live)"
            note(f"{done}: their tokens are refused {_refused_when(where)}")
        else:
            done = f"ended the newest session of {_whose(user)} in {where.description}"
            note(f"{done}: its tokens are refused {_refused_when(where)}")
        return 0

    return command_errors("logout", run)
