"""Brute-force limits: attempts per subject (an email, a source IP) in fixed windows.

Counters live in the user table (`store.attempts`), so every function instance
sees the same counts, and every concurrent attempt is counted. An attempt is counted
before it is made; a window opens at the first and lasts `window_seconds`; an attempt
beyond `max_attempts` in it is refused with 429 and a Retry-After until the window ends.
"""

from __future__ import annotations

import ipaddress
import math
from typing import NamedTuple

from .errors import TooManyRequests
from .store import attempts, layout


class Limit(NamedTuple):
    name: str
    max_attempts: int
    window_seconds: int

    def key(self, subject: str) -> str:
        return layout.attempts(self.name, subject)


Check = tuple[Limit, str]  # a limit and the subject it counts


def address(source_ip: str) -> str:
    """The subject a source address counts as: an IPv4 address itself, an IPv6 address its /64.

    One IPv6 client usually holds a whole /64 and can send from any address in it.
    """
    try:
        parsed = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def reserve(checks: list[Check], now: float) -> None:
    """Count this attempt against each check before it is made; refuse it past any limit.

    Counting first, with atomic increments, means concurrent attempts cannot all slip
    under a limit by reading the counter before any of them has written it.
    """
    refusal: TooManyRequests | None = None
    for limit, subject in checks:
        counted = attempts.count_attempt(limit.key(subject), limit.window_seconds, int(now))
        if counted.count > limit.max_attempts and refusal is None:
            refusal = TooManyRequests(retry_after=math.ceil(counted.window_ends_at - now))
    if refusal:
        raise refusal


def release(check: Check) -> None:
    """Take back an attempt that turned out not to count (a successful login, for its source IP)."""
    limit, subject = check
    attempts.uncount_attempt(limit.key(subject))


def clear(check: Check) -> None:
    """Forget a subject's attempts (a successful login clears its email's failures)."""
    limit, subject = check
    attempts.clear_attempts(limit.key(subject))
