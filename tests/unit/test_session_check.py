"""The revocation bound: an authorizer instance refuses a token of an ended session within
AUTH_SESSION_CHECK_SECONDS of the end, whatever it read before, on a clock the tests move."""

from __future__ import annotations

import pytest

from lambda_auth.errors import Unauthorized
from lambda_auth.session_check import SessionCheck
from lambda_auth.settings import SessionSettings
from lambda_auth_cli import template


class Table:
    """Sessions as the table holds them, and the reads an instance made of them."""

    def __init__(self) -> None:
        self.live: set[str] = set()
        self.reads: list[str] = []

    def read(self, user_id: int, session_id: str) -> bool:
        self.reads.append(session_id)
        return session_id in self.live


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table() -> Table:
    return Table()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def check(table: Table, clock: Clock, window: float, max_entries: int = 100) -> SessionCheck:
    return SessionCheck(read=table.read, window_seconds=window, clock=clock, max_entries=max_entries)


def allowed(sessions: SessionCheck, session_id: str | None, user_id: int = 7) -> bool:
    try:
        sessions.require_live(user_id, session_id)
    except Unauthorized:
        return False
    return True


@pytest.mark.parametrize("window", [1.0, 10.0, 30.0])
@pytest.mark.parametrize("ended_after", [0.0, 0.001, 0.5, 0.999])  # as a fraction of the window
def test_a_session_ended_at_any_moment_is_refused_within_the_window(
    table: Table, clock: Clock, window: float, ended_after: float
) -> None:
    sessions = check(table, clock, window)
    table.live.add("s1")
    assert allowed(sessions, "s1")  # read: live, trusted from now on for one window
    clock.now += ended_after * window
    table.live.discard("s1")  # logout, a password change or a reset ends it now
    ended_at = clock.now
    step = window / 1000
    while allowed(sessions, "s1"):
        assert clock.now - ended_at < window, "allowed a full window after the session ended"
        clock.now += step
    clock.now = ended_at + window  # and at the bound itself, whatever the steps
    assert not allowed(sessions, "s1")


def test_within_the_window_a_seen_session_is_not_read_again(table: Table, clock: Clock) -> None:
    sessions = check(table, clock, 10)
    table.live.add("s1")
    for _ in range(5):
        assert allowed(sessions, "s1")
        clock.now += 1.9
    assert table.reads == ["s1"]
    clock.now += 1.0  # 10.5 s after the read
    assert allowed(sessions, "s1")
    assert table.reads == ["s1", "s1"]


def test_a_window_of_zero_reads_every_request_and_refuses_at_once(table: Table, clock: Clock) -> None:
    sessions = check(table, clock, 0)
    table.live.add("s1")
    assert allowed(sessions, "s1") and allowed(sessions, "s1")
    table.live.discard("s1")
    assert not allowed(sessions, "s1")
    assert table.reads == ["s1", "s1", "s1"]


def test_an_ended_session_stays_refused_and_a_new_one_is_allowed(table: Table, clock: Clock) -> None:
    sessions = check(table, clock, 10)
    assert not allowed(sessions, "gone")
    table.live.add("gone")  # a session id never comes back; were it to, the window still bounds the answer
    clock.now += 5
    assert not allowed(sessions, "gone")
    table.live.add("new")
    assert allowed(sessions, "new")


def test_a_token_without_a_session_is_refused_without_a_read(table: Table, clock: Clock) -> None:
    assert not allowed(check(table, clock, 10), None)
    assert table.reads == []


def test_the_oldest_entries_go_first_and_a_forgotten_session_is_read_again(table: Table, clock: Clock) -> None:
    sessions = check(table, clock, 10, max_entries=2)
    table.live.update({"a", "b", "c"})
    for session_id in ("a", "b", "c"):  # c pushes a out
        assert allowed(sessions, session_id)
    assert allowed(sessions, "b") and allowed(sessions, "c")
    assert table.reads == ["a", "b", "c"]
    assert allowed(sessions, "a")
    assert table.reads == ["a", "b", "c", "a"]


def test_the_window_is_the_settings_and_the_template_bounds_it_to_30_seconds() -> None:
    assert SessionSettings.from_environment({}).check_seconds == 10
    assert SessionSettings.from_environment({"AUTH_SESSION_CHECK_SECONDS": "30"}).check_seconds == 30
    parameter = template.parameter("SessionCheckSeconds")
    assert (parameter.default, parameter.minimum, parameter.maximum) == ("10", 0, 30)
