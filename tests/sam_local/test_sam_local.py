"""The functions under sam local, in Docker, against moto: `sam local invoke` with every events/ file, then
`sam local start-api` through Xano's flow and the account lifecycle over HTTP. Where sam local answers for
API Gateway itself (a refused token, an unknown route), its answers are its own, as the README lists them,
and never a 5xx."""

from __future__ import annotations

import json
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from lambda_auth import aws
from tests.conftest import EVENTS, unique_email
from tests.e2e.conftest import Reply

from .conftest import MAIL_TIMEOUT_SECONDS, SamLocal, call, tcp_ports_listened_by, unix_sockets_listened_by

PASSWORD = "analytical1"
NEW_PASSWORD = "a new analytical engine 2"
# signup.json comes first: it creates user 1 (ada@example.com, whom the other events name) in the
# run's fresh table. None of the others changes what another answers: they run side by side.
FIRST_EVENT = "signup"
EVENT_FUNCTIONS = {
    "signup": "SignupFunction",
    "login": "LoginFunction",
    "me": "MeFunction",
    "authorizer": "AuthorizerFunction",
    "logout": "LogoutFunction",
    "password": "PasswordChangeFunction",
    "password_reset": "PasswordResetFunction",
    "password_reset_mailer": "PasswordResetMailerFunction",
    "password_reset_confirm": "PasswordResetConfirmFunction",
}
SIDE_BY_SIDE = 4  # sam local invoke processes at once, each with a container of its own
EVENTS_USER = "ada@example.com"
# sam local's own answers where API Gateway would send the template's gateway responses.
SAM_DENIED = {"message": "User is not authorized to access this resource"}
SAM_NO_ROUTE = {"message": "Missing Authentication Token"}


def event(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return document


@pytest.fixture(scope="module")
def invoked(sam: SamLocal) -> dict[str, Any]:
    """Each events/ file's answer from `sam local invoke`, signup.json's first, before any HTTP request."""

    def invoke(name: str) -> Any:
        return sam.invoke(EVENT_FUNCTIONS[name], f"events/{name}.json")

    answers = {FIRST_EVENT: invoke(FIRST_EVENT)}
    others = [name for name in EVENT_FUNCTIONS if name != FIRST_EVENT]
    with ThreadPoolExecutor(SIDE_BY_SIDE) as pool:
        answers.update(zip(others, pool.map(invoke, others), strict=True))
    return answers


def test_every_event_file_is_invoked() -> None:
    assert {path.stem for path in EVENTS.glob("*.json")} == set(EVENT_FUNCTIONS)


def test_invoke_signs_up_and_logs_in_the_events_user(invoked: dict[str, Any]) -> None:
    for name in ("signup", "login"):
        answer = invoked[name]
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"])["authToken"].count(".") == 4, name  # compact JWE: five parts


def test_invoke_of_me_answers_the_user_the_authorizer_context_names(invoked: dict[str, Any]) -> None:
    answer = invoked["me"]
    assert answer["statusCode"] == 200, answer
    profile = json.loads(answer["body"])
    assert (profile["id"], profile["email"], profile["name"]) == (1, "ada@example.com", "Ada Lovelace")


def xano_answer(answer: dict[str, Any]) -> tuple[int, Any]:
    return answer["statusCode"], json.loads(answer["body"])


def test_invoke_of_logout_ends_a_session_the_user_does_not_have_as_a_no_op(invoked: dict[str, Any]) -> None:
    assert xano_answer(invoked["logout"]) == (200, {})


def test_invoke_of_a_password_change_for_a_session_that_is_not_live_is_a_401(invoked: dict[str, Any]) -> None:
    # password.json's session id is a placeholder: no session of user 1 has it.
    status, body = xano_answer(invoked["password"])
    assert (status, body["code"]) == (401, "ERROR_CODE_UNAUTHORIZED")


def test_invoke_of_a_reset_hands_over_to_the_mailer_which_mails_the_user(
    sam: SamLocal, invoked: dict[str, Any]
) -> None:
    # The reset request's container invokes the mailer through the run's Lambda endpoint (start-lambda
    # runs it in a container of its own), and the mailer invoked alone mails too: two codes to user 1.
    assert xano_answer(invoked["password_reset"]) == (200, {})
    assert invoked["password_reset_mailer"] is None  # the mailer's handler returns nothing
    assert len(sam.reset_codes(EVENTS_USER, count=2)) == 2


def test_invoke_of_a_confirmation_with_the_placeholder_code_is_refused(invoked: dict[str, Any]) -> None:
    assert xano_answer(invoked["password_reset_confirm"]) == (
        403,
        {"code": "ERROR_CODE_ACCESS_DENIED", "message": "Invalid or expired code."},
    )


def test_invoke_of_the_authorizer_denies_the_placeholder_token(invoked: dict[str, Any]) -> None:
    assert invoked["authorizer"] == {
        "principalId": "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": event("authorizer")["methodArn"]}
            ],
        },
    }


# start-api, over HTTP


@dataclass(frozen=True)
class User:
    email: str
    name: str
    token: str


def post(sam: SamLocal, path: str, body: Any = None, raw_body: bytes | None = None) -> Reply:
    return call(f"{sam.base_url}{path}", "POST", body=body, raw_body=raw_body)


@pytest.fixture(scope="module")
def user(sam: SamLocal, invoked: dict[str, Any]) -> User:
    """A user signed up over HTTP (after the invokes, which rely on a fresh table)."""
    email = unique_email("sam")
    reply = post(sam, "/auth/signup", {"name": "Grace", "email": email, "password": PASSWORD})
    assert reply.status == 200, reply.body
    assert reply.headers["access-control-allow-origin"] == "*"
    sam.secrets.append(reply.json()["authToken"])
    return User(email, "Grace", reply.json()["authToken"])


def test_login_answers_a_token_that_me_accepts_in_either_carrier(sam: SamLocal, user: User) -> None:
    login = post(sam, "/auth/login", {"email": user.email, "password": PASSWORD})
    assert login.status == 200, login.body
    token = login.json()["authToken"]
    sam.secrets.append(token)  # sent in the query string below, which sam local's log shows without it
    by_header = call(f"{sam.base_url}/auth/me", headers={"Authorization": f"Bearer {token}"})
    by_query = call(f"{sam.base_url}/auth/me?authtoken={token}")
    for reply in (by_header, by_query):
        assert reply.status == 200, reply.body
        assert set(reply.json()) == {"id", "created_at", "name", "email"}
        assert (reply.json()["email"], reply.json()["name"]) == (user.email, user.name)
    assert by_header.json() == by_query.json()


def test_the_signup_token_is_accepted_too(sam: SamLocal, user: User) -> None:
    reply = call(f"{sam.base_url}/auth/me", headers={"Authorization": f"Bearer {user.token}"})
    assert reply.status == 200 and reply.json()["email"] == user.email


@pytest.mark.parametrize("refused", ["tampered", "garbage", "none"])
def test_a_refused_token_is_sam_locals_403_never_a_5xx(sam: SamLocal, user: User, refused: str) -> None:
    header, key, iv, ciphertext, tag = user.token.split(".")
    flipped = ("A" if ciphertext[5] != "A" else "B").join((ciphertext[:5], ciphertext[6:]))
    headers = {
        "tampered": {"Authorization": f"Bearer {'.'.join((header, key, iv, flipped, tag))}"},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "none": {},
    }[refused]
    reply = call(f"{sam.base_url}/auth/me", headers=headers)
    # API Gateway answers the authorizer's Deny with the template's 401; sam local with its own 403,
    # which applies no gateway response, and so carries no CORS header.
    assert (reply.status, reply.json()) == (403, SAM_DENIED)
    assert "access-control-allow-origin" not in reply.headers


def test_a_second_signup_with_the_same_email_is_xanos_403(sam: SamLocal, user: User) -> None:
    reply = post(sam, "/auth/signup", {"name": "Again", "email": user.email, "password": PASSWORD})
    assert (reply.status, reply.json()) == (
        403,
        {"code": "ERROR_CODE_ACCESS_DENIED", "message": "This account is already in use."},
    )


def test_a_wrong_password_is_xanos_403(sam: SamLocal, user: User) -> None:
    reply = post(sam, "/auth/login", {"email": user.email, "password": "wrong guess 1"})
    assert (reply.status, reply.json()) == (
        403,
        {"code": "ERROR_CODE_ACCESS_DENIED", "message": "Invalid Credentials."},
    )


@pytest.mark.parametrize(
    ("body", "raw_body", "param"),
    [(None, b"not json", None), ({"email": "not an email", "password": PASSWORD}, None, "email")],
    ids=["not-json", "bad-email"],
)
def test_a_bad_body_is_xanos_400(sam: SamLocal, body: Any, raw_body: bytes | None, param: str | None) -> None:
    reply = post(sam, "/auth/signup", body, raw_body)
    assert reply.status == 400, reply.body
    assert reply.json()["code"] == "ERROR_CODE_INPUT_ERROR"
    assert reply.json().get("payload") == ({"param": param} if param else None)


@pytest.mark.parametrize("path", ["/auth/nothing", "/api/auth/me"], ids=["unknown", "with-the-stage"])
def test_an_unknown_route_is_sam_locals_403_and_its_paths_have_no_stage(sam: SamLocal, path: str) -> None:
    # API Gateway answers with the template's 404 in Xano's shape; sam local with its own 403.
    reply = call(f"{sam.base_url}{path}")
    assert (reply.status, reply.json()) == (403, SAM_NO_ROUTE)


# The account lifecycle, over HTTP: the authorizer reads the session on every request under sam local
# (AUTH_SESSION_CHECK_SECONDS=0), so an ended session's token is refused at once.


def signup(sam: SamLocal, email: str) -> str:
    reply = post(sam, "/auth/signup", {"name": "Noor", "email": email, "password": PASSWORD})
    assert reply.status == 200, reply.body
    token = str(reply.json()["authToken"])
    sam.secrets.append(token)
    return token


def login(sam: SamLocal, email: str, password: str = PASSWORD) -> Reply:
    reply = post(sam, "/auth/login", {"email": email, "password": password})
    if reply.status == 200:
        sam.secrets.append(reply.json()["authToken"])
    return reply


def authorized(sam: SamLocal, path: str, token: str, body: Any = None) -> Reply:
    method = "GET" if path == "/auth/me" else "POST"
    return call(f"{sam.base_url}{path}", method, body, headers={"Authorization": f"Bearer {token}"})


def accepted(sam: SamLocal, token: str, email: str) -> bool:
    """Whether /auth/me takes `token` (and answers its user); False for sam local's refusal."""
    reply = authorized(sam, "/auth/me", token)
    assert reply.status in (200, 403), reply.body
    if reply.status == 403:
        assert reply.json() == SAM_DENIED
        return False
    return bool(reply.json()["email"] == email)


def test_logout_ends_this_session_at_once_and_no_other(sam: SamLocal, invoked: dict[str, Any]) -> None:
    email = unique_email("sam-logout")
    here, elsewhere = signup(sam, email), login(sam, email).json()["authToken"]
    assert accepted(sam, here, email)  # the authorizer has read this session as live
    reply = authorized(sam, "/auth/logout", here)
    assert (reply.status, reply.json()) == (200, {})
    assert not accepted(sam, here, email)
    assert authorized(sam, "/auth/logout", here).status == 403  # a logged-out token cannot log out again
    assert accepted(sam, elsewhere, email)


def test_a_global_logout_ends_every_session_and_a_new_login_works(sam: SamLocal, invoked: dict[str, Any]) -> None:
    email = unique_email("sam-global")
    first, second = signup(sam, email), login(sam, email).json()["authToken"]
    reply = authorized(sam, "/auth/logout", second, {"scope": "global"})
    assert (reply.status, reply.json()) == (200, {})
    assert not accepted(sam, first, email) and not accepted(sam, second, email)
    assert accepted(sam, login(sam, email).json()["authToken"], email)


def test_a_password_change_answers_a_fresh_token_and_refuses_every_earlier_one(
    sam: SamLocal, invoked: dict[str, Any]
) -> None:
    email = unique_email("sam-password")
    here, elsewhere = signup(sam, email), login(sam, email).json()["authToken"]
    reply = authorized(sam, "/auth/password", here, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert reply.status == 200, reply.body
    fresh = reply.json()["authToken"]
    sam.secrets.append(fresh)
    assert fresh != here and accepted(sam, fresh, email)
    assert not accepted(sam, elsewhere, email)
    assert not accepted(sam, here, email)  # this session went on under a new id
    assert (login(sam, email).status, login(sam, email, NEW_PASSWORD).status) == (403, 200)


def test_a_reset_mails_a_code_that_sets_a_new_password_once_and_ends_every_session(
    sam: SamLocal, invoked: dict[str, Any]
) -> None:
    email = unique_email("sam-reset")
    before = signup(sam, email)
    reply = post(sam, "/auth/password-reset", {"email": email})
    assert (reply.status, reply.json()) == (200, {})
    (code,) = sam.reset_codes(email)
    confirm = {"email": email, "code": code, "new_password": NEW_PASSWORD}
    confirmed = post(sam, "/auth/password-reset/confirm", confirm)
    assert confirmed.status == 200, confirmed.body
    after = confirmed.json()["authToken"]
    sam.secrets.append(after)
    assert not accepted(sam, before, email)
    assert accepted(sam, after, email)
    assert (login(sam, email).status, login(sam, email, NEW_PASSWORD).status) == (403, 200)
    again = post(sam, "/auth/password-reset/confirm", {**confirm, "new_password": PASSWORD})
    assert (again.status, again.json()["message"]) == (403, "Invalid or expired code.")


def test_a_reset_for_an_email_without_an_account_answers_the_same_and_mails_nothing(
    sam: SamLocal, invoked: dict[str, Any]
) -> None:
    known, unknown = unique_email("sam-known"), unique_email("sam-unknown")
    signup(sam, known)
    no_account = "password reset for no account"  # the mailer's log line, when it finds none

    def ran_for_no_account(lines: list[str]) -> int:
        return sum(no_account in line for line in lines)

    before = ran_for_no_account(sam.output.text().splitlines())
    replies = [post(sam, "/auth/password-reset", {"email": email}) for email in (unknown, known)]
    assert [(reply.status, reply.body) for reply in replies] == [(200, b"{}")] * 2
    sam.reset_codes(known)
    assert sam.output.wait_for(lambda lines: ran_for_no_account(lines) > before, MAIL_TIMEOUT_SECONDS)
    assert sam.mail_to(unknown) == []


# start-lambda, which runs any function with any event it is asked to, behind the run's guard


MAILER_PATH = "/2015-03-31/functions/PasswordResetMailerFunction/invocations"


def test_start_lambda_listens_on_no_tcp_port_a_web_page_could_reach_only_on_an_owner_only_socket(
    sam: SamLocal,
) -> None:
    (start_lambda,) = sam.processes("start-lambda")
    assert tcp_ports_listened_by(start_lambda) == set()
    (path,) = unix_sockets_listened_by(start_lambda)
    assert path.name == "start-lambda.sock"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain", "Origin": "https://evil.example"},  # a page's fetch: no preflight needed
        {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},  # unsigned
    ],
    ids=["page", "unsigned"],
)
def test_the_lambda_endpoint_refuses_what_a_web_page_can_send_without_cors_headers(
    sam: SamLocal, invoked: dict[str, Any], headers: dict[str, str]
) -> None:
    email = unique_email("sam-page")
    signup(sam, email)
    body = json.dumps({"email": email, "request_id": "0" * 32}).encode()
    reply = call(f"{sam.lambda_url()}{MAILER_PATH}", "POST", raw_body=body, headers=headers)
    assert reply.status == 403, reply.body
    assert not [name for name in reply.headers if name.startswith("access-control-")]
    # The reset flow still hands over to the mailer through it: one code, the reset's, and none from the refusal.
    assert post(sam, "/auth/password-reset", {"email": email}).status == 200
    assert len(sam.reset_codes(email)) == 1


def test_the_lambda_endpoint_passes_on_a_request_signed_with_the_runs_key(
    sam: SamLocal, invoked: dict[str, Any]
) -> None:
    # As the developer's own client may call it, with credentials.sh's key: the mailer runs and mails a code.
    email = unique_email("sam-signed")
    signup(sam, email)
    url = f"{sam.lambda_url()}{MAILER_PATH}"
    body = json.dumps({"email": email, "request_id": "1" * 32}).encode()
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    unsigned = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"}
    headers = aws.sign("POST", url, unsigned, body, sam.moto_key(), "us-east-1", "lambda", date)
    reply = call(url, "POST", raw_body=body, headers=headers)
    assert reply.status == 202, reply.body
    assert len(sam.reset_codes(email)) == 1
