"""The authorizer's check that a token's session is live: one DynamoDB read, trusted for a bounded time.

Every token names its sign-in session (`sid`); logout, a password change or a reset ends
sessions (`store.sessions`). The authorizer refuses a token whose session has ended. To keep
a read of DynamoDB off most requests, an instance trusts what it read about a session for
`AUTH_SESSION_CHECK_SECONDS` (10 by default; `lambda-auth serve` uses 0, checking every
request): a session ended at any moment is refused by every instance within that bound.
The read goes through the standard-library client (`aws`), like the key secret's, so the
authorizer's cold start loads no AWS SDK.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from . import aws, settings
from .errors import Unauthorized
from .store import layout

DEFAULT_ENTRIES = 10_000  # sessions remembered per instance; the oldest goes first

Read = Callable[[int, str], bool]


def read_live(user_id: int, session_id: str) -> bool:
    """Whether the session is live now, read from the table (strongly consistent)."""
    configured = settings.aws()
    answer = aws.json_call(
        "dynamodb",
        "DynamoDB_20120810.GetItem",
        {
            "TableName": settings.table().name,
            "Key": {"pk": {"S": layout.sessions(user_id)}},
            "ProjectionExpression": "#sessions.#session",
            "ExpressionAttributeNames": {"#sessions": layout.SESSIONS_ATTRIBUTE, "#session": session_id},
            "ConsistentRead": True,
        },
        aws.region_of(settings.table().name, configured),
        what="cannot check a session",
        aws=configured,
        keep_alive=True,
    )
    entries = answer.get("Item", {}).get(layout.SESSIONS_ATTRIBUTE, {}).get("M", {})
    return session_id in entries


class SessionCheck:
    """Whether sessions are live, each read at most once per `window_seconds`."""

    def __init__(
        self,
        read: Read = read_live,
        window_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = DEFAULT_ENTRIES,
    ) -> None:
        self._read = read
        self._window = settings.sessions().check_seconds if window_seconds is None else window_seconds
        self._clock = clock
        self._max_entries = max_entries
        self._seen: dict[str, tuple[float, bool]] = {}  # session id -> (when read, live), oldest first
        self._lock = threading.Lock()

    def require_live(self, user_id: int, session_id: str | None) -> None:
        """Nothing, for a live session; `Unauthorized` for an ended one (or a token that names none)."""
        if session_id is None:
            raise Unauthorized("the token names no session")
        now = self._clock()
        seen = self._seen.get(session_id)
        if seen is not None and now - seen[0] < self._window:
            live = seen[1]
        else:
            live = self._read(user_id, session_id)
            with self._lock:  # eviction iterates the dict: every change to it holds the lock
                self._seen.pop(session_id, None)
                while len(self._seen) >= self._max_entries:
                    del self._seen[next(iter(self._seen))]
                self._seen[session_id] = (now, live)
        if not live:
            raise Unauthorized("the session has ended")
