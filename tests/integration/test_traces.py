"""Nothing secret or personal reaches a trace: tokens, passwords, hashes, emails and names stay out of X-Ray.

Powertools' tracer records a handler's return value and any exception it raises as trace
metadata unless told not to. The functions load no tracing SDK (Lambda's and API Gateway's
own traces hold no request or answer); here every handler runs with a provider that records
every segment's metadata, annotations and exceptions, set for any tracer the functions have
or build, and all it records is searched.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from lambda_auth import observability
from lambda_auth.store import users
from tests.conftest import event, unique_email

PASSWORD = "correct horse 42"


class RecordedSegment(BaseSegment):  # type: ignore[misc]
    def __init__(self, name: str, recorded: list[Any]):
        self.name = name
        self.recorded = recorded

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        self.recorded.append(("subsegment", subsegment))

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        self.recorded.append(("annotation", self.name, key, value))

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.recorded.append(("metadata", self.name, namespace, key, value))

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self.recorded.append(("exception", self.name, repr(exception), str(stack)))


class RecordingProvider(BaseProvider):  # type: ignore[misc]
    """A tracing provider that keeps, in order, everything a segment is given."""

    def __init__(self) -> None:
        self.recorded: list[Any] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[RecordedSegment]:
        self.recorded.append(("segment", name))
        yield RecordedSegment(str(name), self.recorded)

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[RecordedSegment]:
        yield RecordedSegment(str(name), self.recorded)

    def put_annotation(self, key: str, value: Any) -> None:
        self.recorded.append(("annotation", None, key, value))

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.recorded.append(("metadata", None, namespace, key, value))

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> RecordingProvider:
    provider = RecordingProvider()
    monkeypatch.setitem(Tracer._config, "provider", provider)  # any Tracer built from now on
    existing = vars(observability).get("tracer")  # one the functions built already, if they have one
    if existing is not None:
        monkeypatch.setattr(existing, "provider", provider)
    return provider


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_no_trace_holds_a_token_password_hash_email_or_name(
    handlers: dict[str, Any], traces: RecordingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    email, name = unique_email("traced"), "Ada Lovelace"
    signup = handlers["signup"](event("signup", body={"name": name, "email": email, "password": PASSWORD}))
    login = handlers["login"](event("login", body={"email": email, "password": PASSWORD}))
    handlers["login"](event("login", body={"email": email, "password": "wrong guess 1"}))
    handlers["signup"](event("signup", body={"email": email, "password": PASSWORD}))  # in use: an error answer
    credentials = users.get_credentials(email)
    assert credentials is not None
    me = event("me")
    me["requestContext"]["authorizer"] = {"principalId": str(credentials.user_id)}
    profile = handlers["me"](me)
    assert body_of(profile)["email"] == email
    monkeypatch.setattr(users, "get_user", lambda user_id: (_ for _ in ()).throw(RuntimeError(email)))
    assert handlers["me"](me)["statusCode"] == 500  # an unexpected error whose text holds the email
    tokens = [body_of(signup)["authToken"], body_of(login)["authToken"]]

    recorded = json.dumps(traces.recorded, default=repr)
    for secret in (*tokens, *(token.split(".")[3] for token in tokens), PASSWORD, credentials.password_hash):
        assert secret not in recorded
    assert email not in recorded and name not in recorded and "$argon2" not in recorded
