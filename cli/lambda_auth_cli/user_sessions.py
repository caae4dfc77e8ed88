"""`lambda-auth sessions` and `lambda-auth logout`: one user's sign-in sessions, listed and ended, in the
table `lambda-auth users` reads. Only live sessions count: once a session's latest token has expired it is
over, whatever the table still says (the store forgets it at the user's next sign-in). Session ids are
shown: an id is no credential, a token is."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from lambda_auth.store import sessions, users

from .admin import directory
from .console import CliError, command_errors, note, say, utc


def live_sessions(user: users.User) -> tuple[list[sessions.Session], int]:
    """The user's live sessions, newest first, and how many recorded ones have expired. Sessions begun in
    the same second (times are whole seconds) come in the order of their ids: every listing, and `logout`,
    agree on which is the newest."""
    now = time.time()
    recorded = sessions.of(user.id)
    live = sorted((s for s in recorded if s.expires_at > now), key=lambda s: (s.created_at, s.id), reverse=True)
    return live, len(recorded) - len(live)


def _table(found: list[sessions.Session]) -> None:
    width = max(len("id"), *(len(session.id) for session in found))
    say(f"{'id':<{width}}  {'created (UTC)':<19}  expires (UTC)")
    for session in found:
        say(f"{session.id:<{width}}  {utc(session.created_at)}  {utc(session.expires_at)}")


def sessions_command(args: argparse.Namespace) -> int:
    """List one user's live sessions, newest first: a table, or a JSON array with --json."""
    with command_errors("sessions"):
        where = directory(args.stack, args.jwks)
        user = where.find(args.id if args.id is not None else args.email)
        live, expired = live_sessions(user)
        if args.json:
            say(json.dumps([asdict(session) for session in live], indent=2))
        elif live:
            _table(live)
        summary = f"{len(live)} live session{'' if len(live) == 1 else 's'} of user {user.id} ({user.email})"
        left_out = f"; {expired} expired, not shown" if expired else ""
        note(f"{summary} in {where.description}{left_out}")
    return 0


def logout_command(args: argparse.Namespace) -> int:
    """End the user's newest live session, or all of them with --all; print the sessions ended."""
    with command_errors("logout"):
        where = directory(args.stack, args.jwks)
        user = where.find(args.id if args.id is not None else args.email)
        live = live_sessions(user)[0]
        if args.all:
            if live:
                sessions.end_all(user.id)  # a session begun while this runs too
            ended = live
        else:  # the newest; one that another logout ends meanwhile is skipped for the next newest
            ended = next(([session] for session in live if sessions.end(user.id, session.id)), [])
        whose = f"user {user.id} ({user.email})"
        if not ended:
            raise CliError(f"{whose} has no live sessions in {where.description}")
        _table(ended)
        refused = "from now on"
        if where.session_check_seconds > 0:
            refused = f"by every authorizer within {where.session_check_seconds} s (the stack's SessionCheckSeconds)"
        if args.all:
            done = f"ended all sessions of {whose} in {where.description} ({len(ended)} live): their tokens"
        else:
            done = f"ended the newest session of {whose} in {where.description}: its tokens"
        note(f"{done} are refused {refused}")
    return 0
