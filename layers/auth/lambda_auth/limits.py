"""Brute-force limits: attempts per subject (an email, a source IP) in fixed windows.

Counters live in the user table (`users.count_attempt`), so every function instance
sees the same counts, and every concurrent attempt is counted. A window opens at the
first attempt and lasts `window_seconds`; once `max_attempts` are in it, the limited
action is refused with 429 and a Retry-After until the window ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import users
from .errors import TooManyRequests


@dataclass(frozen=True)
class Limit:
    name: str
    max_attempts: int
    window_seconds: int

    def key(self, subject: str) -> str:
        return f"limit#{self.name}#{subject}"


Check = tuple[Limit, str]  # a limit and the subject it counts


def _refusal(attempts: users.Attempts, limit: Limit, now: float) -> TooManyRequests | None:
    if attempts.window_ends_at > now and attempts.count >= limit.max_attempts:
        return TooManyRequests(retry_after=math.ceil(attempts.window_ends_at - now))
    return None


def enforce(checks: list[Check], now: float) -> dict[str, users.Attempts]:
    """Raise `TooManyRequests` when any check is over its limit; return the counters read."""
    counters = users.read_attempts([limit.key(subject) for limit, subject in checks])
    for limit, subject in checks:
        attempts = counters.get(limit.key(subject))
        refusal = _refusal(attempts, limit, now) if attempts else None
        if refusal:
            raise refusal
    return counters


def record(checks: list[Check], now: float) -> None:
    """Count one attempt against each check."""
    for limit, subject in checks:
        users.count_attempt(limit.key(subject), limit.window_seconds, int(now))


def take(check: Check, now: float) -> None:
    """Count one attempt, then refuse it if it went over the limit (one request, for signup)."""
    limit, subject = check
    attempts = users.count_attempt(limit.key(subject), limit.window_seconds, int(now))
    if attempts.count > limit.max_attempts:
        raise TooManyRequests(retry_after=math.ceil(attempts.window_ends_at - now))


def clear(check: Check) -> None:
    """Forget a subject's attempts (a successful login clears its email's failures)."""
    limit, subject = check
    users.clear_attempts(limit.key(subject))
