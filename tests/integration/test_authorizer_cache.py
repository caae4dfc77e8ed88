"""The authorizer function as API Gateway invokes it: a token it has seen is answered from its
cache with the same policy, and its log lines keep Powertools' shape without Powertools."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from lambda_auth import authorizer, keys, signin, tokens
from lambda_auth.store import sessions
from tests.conftest import event

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def request(token: str) -> dict[str, Any]:
    return event("authorizer", headers={"Authorization": f"Bearer {token}"})


def test_a_token_seen_before_is_answered_from_the_cache_with_the_same_policy(
    handlers: dict[str, Handler], decryptions: list[str]
) -> None:
    token = signin.start(4242, {"plan": "pro"})
    first = handlers["authorizer"](request(token))
    again = handlers["authorizer"](request(token))
    assert again == first
    assert first["principalId"] == "4242"
    (session,) = sessions.of(4242)
    assert first["context"] == {"userId": 4242, "sessionId": session.id, "extras": '{"plan":"pro"}'}
    assert decryptions == [token]
    assert token in authorizer.verified_tokens


def test_a_token_in_the_query_string_shares_the_cache_with_the_header(
    handlers: dict[str, Handler], decryptions: list[str]
) -> None:
    token = signin.start(4343)
    by_header = handlers["authorizer"](request(token))
    by_query = handlers["authorizer"](event("authorizer", headers={}, queryStringParameters={"authtoken": token}))
    assert by_query["principalId"] == by_header["principalId"] == "4343"
    assert decryptions == [token]


def test_a_refusal_is_one_json_log_line_with_the_invocation_s_keys_and_no_token(
    handlers: dict[str, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    token = tokens.issue(keys.current_store().get(), 42, 3600)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = request(tampered)
    capsys.readouterr()
    assert handlers["authorizer"](refused)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["level"] == "INFO" and line["message"] == "token refused"
    assert line["reason"] == "decryption failed"
    assert line["service"] == "lambda-auth"
    assert line["correlation_id"] == refused["requestContext"]["requestId"]
    assert line["function_name"] == "authorizer" and line["cold_start"] in (True, False)
    assert {"timestamp", "location", "function_request_id", "function_arn"} <= set(line)
    assert tampered not in lines[0] and token not in lines[0]
