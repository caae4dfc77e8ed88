"""openapi.yaml states the server's input rules: each body below is refused, or accepted, by both.

The spec side is jsonschema against the operation's request schema, as a client validating its
body against openapi.yaml would; the server side is lambda_auth.validation, as the handlers call it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from lambda_auth import validation
from lambda_auth.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = yaml.safe_load((ROOT / "openapi.yaml").read_text())
REGISTRY = Registry().with_resource("urn:openapi", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))

PATH_BY_OPERATION = {
    operation["operationId"]: (path, method)
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
}
SERVER_CHECK: dict[str, Callable[[dict[str, Any]], object]] = {
    "signup": validation.signup_input,
    "login": validation.login_input,
    "logout": validation.logout_input,
    "changePassword": validation.password_change_input,
    "requestPasswordReset": validation.reset_request_input,
    "confirmPasswordReset": validation.reset_confirm_input,
}
VALID = {
    "signup": {"name": "Ada", "email": "ada@example.com", "password": "analytical1"},
    "login": {"email": "ada@example.com", "password": "analytical1"},
    "logout": {"scope": "local"},
    "changePassword": {"current_password": "analytical1", "new_password": "difference engine 2"},
    "requestPasswordReset": {"email": "ada@example.com"},
    "confirmPasswordReset": {"email": "ada@example.com", "code": "12345678", "new_password": "analytical engine 3"},
}
EMAIL_ROUTES = ("signup", "login", "requestPasswordReset", "confirmPasswordReset")
NEW_PASSWORD_FIELDS = (
    ("signup", "password"),
    ("changePassword", "new_password"),
    ("confirmPasswordReset", "new_password"),
)
OLD_PASSWORD_FIELDS = (("login", "password"), ("changePassword", "current_password"))
PAROL = "\u043f\u0430\u0440\u043e\u043b\u044c"  # Russian for "password"
LONGEST_EMAIL = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com"  # 254 characters


def request_schema(operation_id: str) -> dict[str, str]:
    """A reference to the operation's request schema, within the document so that its own references resolve."""
    path, method = PATH_BY_OPERATION[operation_id]
    escaped = path.replace("~", "~0").replace("/", "~1")
    return {"$ref": f"urn:openapi#/paths/{escaped}/{method}/requestBody/content/application~1json/schema"}


def spec_errors(operation_id: str, body: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(request_schema(operation_id), registry=REGISTRY)
    return [error.message for error in validator.iter_errors(body)]


def body_with(operation_id: str, field: str, value: object) -> dict[str, Any]:
    body = dict(VALID[operation_id])
    if value is ...:
        body.pop(field, None)
    else:
        body[field] = value
    return body


def assert_both_accept(operation_id: str, body: dict[str, Any]) -> None:
    assert spec_errors(operation_id, body) == []
    SERVER_CHECK[operation_id](body)  # raises InputError if the server refuses it


def assert_both_refuse(operation_id: str, body: dict[str, Any], field: str) -> None:
    assert spec_errors(operation_id, body), f"openapi.yaml accepts {body!r} for {operation_id}"
    with pytest.raises(InputError) as refused:
        SERVER_CHECK[operation_id](body)
    assert refused.value.param == field


def cases(routes_and_fields: tuple[tuple[str, str], ...], values: list[Any]) -> list[tuple[str, str, Any]]:
    return [(route, field, value) for route, field in routes_and_fields for value in values]


@pytest.mark.parametrize("operation_id", sorted(VALID))
def test_the_reference_bodies_are_valid_for_both(operation_id: str) -> None:
    assert_both_accept(operation_id, VALID[operation_id])


# email

ACCEPTED_EMAILS = [
    "ada@example.com",
    "  Ada@Example.COM  ",  # trimmed and lower-cased
    LONGEST_EMAIL,
    "o'brien+tag@mail.example.co.uk",
    "a.b.c@example.museum",
    "x@sub-domain.example.io",
    "ada@xn--e1afmkfd.xn--p1ai",  # ada@пример.рф, as a client sends an IDN: punycode, a punycode TLD
    "ada@xn--e1afmkfd.com",  # ada@пример.com: an IDN label under an ASCII TLD
    f"{'a' * 64}@example.com",
]
REFUSED_EMAILS = [
    "josé@example.com",  # non-ASCII local part: SMTPUTF8, which Amazon SES does not send
    "ada@例え.jp",  # an IDN in its Unicode form: the client sends punycode
    "ada@пример.рф",
    ".ada@example.com",  # not a dot-atom: a leading, trailing or doubled dot
    "ada.@example.com",
    "a..b@example.com",
    f"{'a' * 65}@example.com",  # local part over 64
    f"   {LONGEST_EMAIL}",  # over 254 as sent
    f"{LONGEST_EMAIL[:-3]}coms",  # 255
    "ada@example",
    "ada@example.c",
    "ada@example.123",
    "ada@example.xn--",
    "ada@-example.com",
    "ada@example-.com",
    "ada@example.com.",
    "ada@exa mple.com",
    "ada@example.com\n",  # a final newline, which Python's `$` alone would let through
    "\tada@example.com",
    "\u00a0ada@example.com",  # only spaces are trimmed
    "\u017f@example.com",  # long s, which matches s only ignoring case in Unicode
    "",
    "   ",
    None,
    ...,
    42,
    ["ada@example.com"],
]


@pytest.mark.parametrize("email", ACCEPTED_EMAILS)
@pytest.mark.parametrize("operation_id", EMAIL_ROUTES)
def test_emails_both_accept(operation_id: str, email: str) -> None:
    assert_both_accept(operation_id, body_with(operation_id, "email", email))


@pytest.mark.parametrize("email", REFUSED_EMAILS)
@pytest.mark.parametrize("operation_id", EMAIL_ROUTES)
def test_emails_both_refuse(operation_id: str, email: object) -> None:
    assert_both_refuse(operation_id, body_with(operation_id, "email", email), "email")


def test_an_accepted_email_is_stored_trimmed_and_lower_cased() -> None:
    assert validation.signup_input(body_with("signup", "email", "  Ada@Example.COM  ")).email == "ada@example.com"


# passwords a user chooses: 8 to 128 characters, an ASCII letter and an ASCII digit, no control characters

ACCEPTED_NEW_PASSWORDS = [
    "analytical1",
    "1analytical",
    "abcdefg1",  # 8
    "a1" * 64,  # 128
    f"{PAROL}123a",  # other scripts, with one ASCII letter
    "🦊🦊🦊🦊🦊🦊 a1",
    "correct horse 42",
    "line\u2028sep a1",  # a line separator is not a control character
]
REFUSED_NEW_PASSWORDS = [
    f"{PAROL}123",  # no ASCII letter
    "analytical",  # no digit
    "analytical\u0663",  # an Arabic-Indic digit is not an ASCII digit
    "analytical\u00b2",  # nor is a superscript two
    "12345678",
    "abcdef1",  # 7
    "a1" * 64 + "x",  # 129
    "analytical1\n",
    "analytical\x001",
    "analytical\x851",  # a C1 control character
    "analytical\x7f1",
    "",
    None,
    ...,
    12345678,
]


@pytest.mark.parametrize(("operation_id", "field", "password"), cases(NEW_PASSWORD_FIELDS, ACCEPTED_NEW_PASSWORDS))
def test_new_passwords_both_accept(operation_id: str, field: str, password: str) -> None:
    assert_both_accept(operation_id, body_with(operation_id, field, password))


@pytest.mark.parametrize(("operation_id", "field", "password"), cases(NEW_PASSWORD_FIELDS, REFUSED_NEW_PASSWORDS))
def test_new_passwords_both_refuse(operation_id: str, field: str, password: object) -> None:
    assert_both_refuse(operation_id, body_with(operation_id, field, password), field)


# passwords to check: the signup rule is not applied, only 1 to 128 characters without control characters


@pytest.mark.parametrize(("operation_id", "field", "password"), cases(OLD_PASSWORD_FIELDS, ["x", PAROL, "p" * 128]))
def test_passwords_to_check_both_accept(operation_id: str, field: str, password: str) -> None:
    assert_both_accept(operation_id, body_with(operation_id, field, password))


@pytest.mark.parametrize(
    ("operation_id", "field", "password"),
    cases(OLD_PASSWORD_FIELDS, ["", "p" * 129, "pass\nword", "password\n", "pass\x9bword", None, ..., 42]),
)
def test_passwords_to_check_both_refuse(operation_id: str, field: str, password: object) -> None:
    assert_both_refuse(operation_id, body_with(operation_id, field, password), field)


# name: optional (absent or null), text of at most 200 characters, no control characters


@pytest.mark.parametrize("name", [..., None, "", "Grace 🦊", "李白", "n" * 200])
def test_names_both_accept(name: object) -> None:
    assert_both_accept("signup", body_with("signup", "name", name))


@pytest.mark.parametrize("name", ["n" * 201, "Ada\x00", "Ada\n", "\x1bAda", "Ada\x85", 42, ["Ada"], {"first": "Ada"}])
def test_names_both_refuse(name: object) -> None:
    assert_both_refuse("signup", body_with("signup", "name", name), "name")


# logout scope: one of three, or absent or null for `local`


@pytest.mark.parametrize("scope", [..., None, "local", "others", "global"])
def test_scopes_both_accept(scope: object) -> None:
    assert_both_accept("logout", body_with("logout", "scope", scope))


def test_absent_and_null_scope_are_local() -> None:
    assert validation.logout_input({}) == validation.logout_input({"scope": None}) == "local"


@pytest.mark.parametrize("scope", ["", "LOCAL", " local", "nowhere", 42, ["local"], True])
def test_scopes_both_refuse(scope: object) -> None:
    assert_both_refuse("logout", body_with("logout", "scope", scope), "scope")


# reset code: exactly the 8 ASCII digits of the email


@pytest.mark.parametrize("code", ["12345678", "00000000", "99999999"])
def test_codes_both_accept(code: str) -> None:
    assert_both_accept("confirmPasswordReset", body_with("confirmPasswordReset", "code", code))


@pytest.mark.parametrize(
    "code",
    [
        "1234567",
        "123456789",
        " 12345678",
        "12345678 ",
        "12345678\n",
        "1234567a",
        "1234-5678",
        "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic digits
        "",
        None,
        ...,
        12345678,
    ],
)
def test_codes_both_refuse(code: object) -> None:
    assert_both_refuse("confirmPasswordReset", body_with("confirmPasswordReset", "code", code), "code")


def test_the_reset_code_rule_has_the_mailers_length() -> None:
    from lambda_auth import reset_mail

    assert validation.RESET_CODE_DIGITS == reset_mail.CODE_DIGITS


# unknown fields


@pytest.mark.parametrize("operation_id", sorted(VALID))
def test_unknown_fields_are_ignored_by_both(operation_id: str) -> None:
    assert_both_accept(operation_id, {**VALID[operation_id], "role": "admin", "extras": {"a": 1}})


# the spec's own examples


def request_examples() -> list[tuple[str, Any]]:
    found = []
    for operation_id, (path, method) in PATH_BY_OPERATION.items():
        content = DOCUMENT["paths"][path][method].get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        examples = [content["example"]] if "example" in content else []
        examples += [example["value"] for example in content.get("examples", {}).values()]
        found += [(operation_id, example) for example in examples]
    return found


def test_every_operation_with_a_body_has_an_example() -> None:
    with_body = {operation_id for operation_id in SERVER_CHECK}
    assert {operation_id for operation_id, _ in request_examples()} == with_body


@pytest.mark.parametrize(("operation_id", "example"), request_examples())
def test_every_request_example_is_valid_for_both(operation_id: str, example: dict[str, Any]) -> None:
    assert_both_accept(operation_id, example)


# the patterns in both regex dialects


def patterns(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(patterns(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(patterns(value) for value in node))
    return set()


SAMPLES = sorted(
    {
        value
        for value in [
            *ACCEPTED_EMAILS,
            *REFUSED_EMAILS,
            *ACCEPTED_NEW_PASSWORDS,
            *REFUSED_NEW_PASSWORDS,
            "Ada\n",
            "Ada\x85",
            "\x1bAda",
            "12345678",
            "12345678\n",
            "a.b.c.d.e",
            "a.b.c.d.e\n",
            "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
        ]
        if isinstance(value, str)
    }
)
ECMA_SCRIPT = """
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map(([pattern, value]) => new RegExp(pattern, "u").test(value))));
"""


def test_every_pattern_matches_the_same_text_in_ecma_262_as_in_python() -> None:
    """OpenAPI's dialect is ECMA-262 (JavaScript's, with the u flag as JSON Schema validators use it);
    jsonschema and schemathesis use Python's. Both must match exactly the same samples."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: it is the ECMA-262 engine this test compares with")
    cases = [
        (pattern, value)
        for pattern in sorted(patterns(DOCUMENT["paths"]) | patterns(DOCUMENT["components"]))
        for value in SAMPLES
    ]
    result = subprocess.run(  # noqa: S603 - node with a fixed script
        [node, "-e", ECMA_SCRIPT], input=json.dumps(cases), capture_output=True, text=True, timeout=60, check=True
    )
    in_ecma = json.loads(result.stdout)
    in_python = [re.search(pattern, value) is not None for pattern, value in cases]
    differences = [case for case, ecma, python in zip(cases, in_ecma, in_python, strict=True) if ecma != python]
    assert differences == []
    for pattern in {pattern for pattern, _ in cases}:  # each pattern sees text it takes and text it refuses
        outcomes = {python for (tested, _), python in zip(cases, in_python, strict=True) if tested == pattern}
        assert outcomes == {True, False}, pattern


EVENT_BODIES = sorted(
    path.name
    for path in (ROOT / "events").glob("*.json")
    if json.loads(path.read_text()).get("body") and "httpMethod" in json.loads(path.read_text())
)


@pytest.mark.parametrize("name", EVENT_BODIES)
def test_every_sample_events_body_is_valid_for_both(name: str) -> None:
    """The events/ files (sam local invoke's, `lambda-auth invoke`'s) send what the spec and the server accept, so
    each one reaches its route's logic: a placeholder reset code is a wrong code (403), not a malformed one."""
    document = json.loads((ROOT / "events" / name).read_text())
    route = (document["resource"], document["httpMethod"].lower())
    (operation_id,) = [operation for operation, where in PATH_BY_OPERATION.items() if where == route]
    assert_both_accept(operation_id, json.loads(document["body"]))
