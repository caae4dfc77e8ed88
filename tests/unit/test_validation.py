"""Input checks: every rule in lambda_auth.validation, each failure an InputError naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from lambda_auth.errors import InputError
from lambda_auth.validation import (
    MAX_BODY_BYTES,
    LoginInput,
    ResetConfirmInput,
    SignupInput,
    json_object,
    login_input,
    logout_input,
    reset_confirm_input,
    signup_input,
)

EMAIL = "ada@example.com"
PASSWORD = "analytical1"

# 64 + 1 + 189 characters: the longest address the rules allow, every label within 63.
LOCAL_PART = "a" * 64
LONGEST_DOMAIN = f"{'b' * 63}.{'c' * 63}.{'d' * 57}.com"
LONGEST_EMAIL = f"{LOCAL_PART}@{LONGEST_DOMAIN}"


def signup(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"name": "Ada", "email": EMAIL, "password": PASSWORD}
    document.update(changes)
    return {key: value for key, value in document.items() if value is not ...}


def refusal(check: Any, document: object) -> InputError:
    with pytest.raises(InputError) as caught:
        check(document)
    return caught.value


def assert_refused(check: Any, document: dict[str, Any], param: str) -> None:
    error = refusal(check, document)
    assert error.param == param
    assert error.payload == {"param": param}
    assert error.status == 400 and error.code == "ERROR_CODE_INPUT_ERROR"


# email


@pytest.mark.parametrize("check", [signup_input, login_input])
def test_email_is_trimmed_and_lowercased(check: Any) -> None:
    assert check(signup(email="  Ada@Example.COM  ")).email == EMAIL


def test_email_of_254_characters_is_accepted() -> None:
    assert len(LONGEST_EMAIL) == 254
    assert signup_input(signup(email=LONGEST_EMAIL)).email == LONGEST_EMAIL


def test_email_with_surrounding_spaces_within_254_characters_is_accepted_trimmed() -> None:
    email = f"  {LONGEST_EMAIL[4:]}  "
    assert len(email) == 254
    assert signup_input(signup(email=email)).email == LONGEST_EMAIL[4:]


def test_email_of_254_characters_with_surrounding_spaces_is_refused() -> None:
    # 254 characters as sent, as openapi.yaml's maxLength counts them.
    assert_refused(signup_input, signup(email=f" {LONGEST_EMAIL}"), "email")


@pytest.mark.parametrize("email", ["\u00a0ada@example.com", "ada@example.com\u3000", "\u2003ada@example.com"])
def test_email_with_other_surrounding_whitespace_is_refused(email: str) -> None:
    # Only spaces are trimmed (Xano's trim): other whitespace is no part of an address.
    assert_refused(signup_input, signup(email=email), "email")


@pytest.mark.parametrize(
    "email",
    [
        f"{LOCAL_PART}@{'b' * 63}.{'c' * 63}.{'d' * 58}.com",  # 255 characters
        f"{LOCAL_PART}@{'b' * 63}.{'c' * 63}.{'d' * 63}.{'e' * 63}.com",  # far beyond
        "x" * 2000,
    ],
)
def test_email_over_254_characters_is_refused(email: str) -> None:
    assert len(email) > 254
    assert_refused(signup_input, signup(email=email), "email")


@pytest.mark.parametrize(
    "email",
    [
        "plain",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "ada@exa mple.com",
        "ada lovelace@example.com",
        "ada@-example.com",
        "ada@example-.com",
        "ada@example..com",
        "ada@.example.com",
        "ada@example.c",
        "ada@example.123",
        f"{'a' * 65}@example.com",
        f"ada@{'b' * 64}.com",
        "ada@example.com.",
        "<ada@example.com>",
        "ada@例え.jp",
        "adä@example.com",
    ],
)
def test_email_of_an_invalid_shape_is_refused(email: str) -> None:
    assert_refused(signup_input, signup(email=email), "email")
    assert_refused(login_input, signup(email=email), "email")


@pytest.mark.parametrize("email", ["ada@xn--e1afmkfd.xn--p1ai", "ada@xn--e1afmkfd.com", "o'brien+tag@a.example.co.uk"])
def test_email_with_a_punycode_domain_or_tld_is_accepted(email: str) -> None:
    # ada@пример.рф as a client sends it: IDNA A-labels, the TLD included.
    assert signup_input(signup(email=email)).email == email


@pytest.mark.parametrize(
    "email", ["josé@example.com", "ada@пример.рф", ".ada@example.com", "ada.@example.com", "a..b@example.com"]
)
def test_email_that_a_mail_server_without_smtputf8_refuses_is_refused(email: str) -> None:
    # Amazon SES sends no SMTPUTF8 mail, and a local part is a dot-atom (RFC 5321).
    assert_refused(signup_input, signup(email=email), "email")


@pytest.mark.parametrize("email", ["\u017f@example.com", "ada@example\u0131.com", "ada@example.co\u017f"])
def test_email_with_letters_that_only_match_ascii_ignoring_case_is_refused(email: str) -> None:
    # Ignoring case, Unicode matches long s (U+017F) to s and dotless i (U+0131) to i.
    assert_refused(signup_input, signup(email=email), "email")


@pytest.mark.parametrize("email", [42, ["ada@example.com"], {"address": EMAIL}, True])
def test_email_that_is_not_text_is_refused(email: object) -> None:
    assert_refused(signup_input, signup(email=email), "email")


@pytest.mark.parametrize("email", [..., None, "", "   "])
def test_missing_or_blank_email_is_refused(email: object) -> None:
    assert_refused(signup_input, signup(email=email), "email")
    assert_refused(login_input, signup(email=email), "email")


def test_email_with_a_control_character_is_refused() -> None:
    assert_refused(signup_input, signup(email="ada@example.com\x00"), "email")


# password


CYRILLIC_PASSWORD = "\u043f\u0430\u0440\u043e\u043b\u044c12"  # "parol" and two digits
# The letter and the digit are ASCII's, so that openapi.yaml can state the rule as a pattern
# that ECMA-262 and Python read alike; other scripts count once an ASCII letter is there.


@pytest.mark.parametrize(
    "password", ["abcdefg1", "1234567a", "a" * 127 + "1", f"{CYRILLIC_PASSWORD}a", "correct horse 42"]
)
def test_password_of_8_to_128_characters_with_a_letter_and_a_digit_is_accepted(password: str) -> None:
    assert signup_input(signup(password=password)).password == password


@pytest.mark.parametrize(
    "password",
    ["abcdef1", "abcdefgh", "12345678", "        ", "!!!!!!!!1", "a" * 128 + "1", CYRILLIC_PASSWORD, "abcdefg\u0663"],
    ids=[
        "7-characters",
        "no-digit",
        "no-letter",
        "spaces",
        "no-letter-with-symbols",
        "129-characters",
        "no-ascii-letter",
        "no-ascii-digit",
    ],
)
def test_password_outside_the_policy_is_refused_at_signup(password: str) -> None:
    assert_refused(signup_input, signup(password=password), "password")


@pytest.mark.parametrize("password", [..., None, "", 12345678, ["analytical1"]])
def test_missing_empty_or_non_text_password_is_refused(password: object) -> None:
    assert_refused(signup_input, signup(password=password), "password")
    assert_refused(login_input, signup(password=password), "password")


def test_password_with_a_control_character_is_refused() -> None:
    assert_refused(signup_input, signup(password="analytical1\x00"), "password")


def test_login_does_not_apply_the_signup_password_policy() -> None:
    assert login_input({"email": EMAIL, "password": "short"}) == LoginInput(email=EMAIL, password="short")


def test_login_password_over_128_characters_is_refused() -> None:
    assert_refused(login_input, {"email": EMAIL, "password": "a1" * 65}, "password")


# name


@pytest.mark.parametrize("name", [..., None])
def test_name_is_optional_and_defaults_to_empty(name: object) -> None:
    assert signup_input(signup(name=name)).name == ""


@pytest.mark.parametrize("name", ["", "Ada Lovelace", "N" * 200, "Ада", "エイダ", "Ada 👩🏽‍💻", "👍" * 200])
def test_name_of_at_most_200_characters_in_any_script_is_kept_as_sent(name: str) -> None:
    assert signup_input(signup(name=name)).name == name


def test_name_over_200_characters_is_refused() -> None:
    assert_refused(signup_input, signup(name="N" * 201), "name")


@pytest.mark.parametrize("name", ["Ada\x00", "Ada\nLovelace", "\tAda", "Ada\x7f", "Ada\x85", "Ada\x1b[31m"])
def test_name_with_control_characters_is_refused(name: str) -> None:
    assert_refused(signup_input, signup(name=name), "name")


@pytest.mark.parametrize("name", ["Ada\ud800", "\udfffAda"])
def test_name_with_a_lone_surrogate_is_refused(name: str) -> None:
    assert_refused(signup_input, signup(name=name), "name")


@pytest.mark.parametrize("name", [42, ["Ada"], {"first": "Ada"}, False])
def test_name_that_is_not_text_is_refused(name: object) -> None:
    assert_refused(signup_input, signup(name=name), "name")


# whole bodies


def test_signup_ignores_unknown_fields() -> None:
    document = signup(admin=True, id=1, created_at=0, extras={"role": "admin"})
    assert signup_input(document) == SignupInput(email=EMAIL, password=PASSWORD, name="Ada")


def test_login_ignores_unknown_fields() -> None:
    assert login_input(signup(admin=True)) == LoginInput(email=EMAIL, password=PASSWORD)


# json_object


@pytest.mark.parametrize("body", ['{"a": 1}', b'{"a": 1}', bytearray(b'{"a": 1}')])
def test_json_object_parses_text_and_bytes(body: str | bytes) -> None:
    assert json_object(body) == {"a": 1}


@pytest.mark.parametrize("body", [None, "", b""])
def test_json_object_refuses_an_empty_body(body: str | bytes | None) -> None:
    error = refusal(json_object, body)
    assert error.payload is None


@pytest.mark.parametrize(
    "body",
    ["{", "{'a': 1}", '{"a": 1,}', "not json", '{"a": 1} trailing', b'{"a": "\xff"}'],
)
def test_json_object_refuses_invalid_json(body: str | bytes) -> None:
    refusal(json_object, body)


@pytest.mark.parametrize("body", ["[]", "[{}]", "1", '"text"', "null", "true", "   "])
def test_json_object_refuses_json_that_is_not_an_object(body: str) -> None:
    refusal(json_object, body)


def test_body_text_with_a_lone_surrogate_is_refused_by_the_field_checks_not_a_crash() -> None:
    document = json_object('{"email": "ada@example.com", "password": "analytical1", "name": "Ada\ud800"}')
    assert_refused(signup_input, document, "name")


def _padded(size: int, filler: str = "x") -> str:
    """A JSON object of exactly `size` UTF-8 bytes."""
    document = '{"pad":"' + filler * ((size - 10) // len(filler.encode())) + '"}'
    assert len(document.encode()) == size
    return document


def test_json_object_of_16_kib_is_accepted() -> None:
    assert MAX_BODY_BYTES == 16 * 1024
    assert set(json_object(_padded(MAX_BODY_BYTES))) == {"pad"}


def test_json_object_over_16_kib_is_refused() -> None:
    refusal(json_object, _padded(MAX_BODY_BYTES + 1))


def test_json_object_size_is_counted_in_utf8_bytes_not_characters() -> None:
    body = _padded(MAX_BODY_BYTES + 10, filler="é")
    assert len(body) < MAX_BODY_BYTES
    refusal(json_object, body)


def test_json_object_refuses_deep_nesting_within_the_size_limit() -> None:
    body = '{"a":' + "[" * 7000 + "]" * 7000 + "}"
    assert len(body) < MAX_BODY_BYTES
    refusal(json_object, body)


# logout scope and reset code


@pytest.mark.parametrize(
    ("document", "scope"), [({}, "local"), ({"scope": None}, "local"), ({"scope": "others"}, "others")]
)
def test_logout_scope_is_local_when_absent_or_null(document: dict[str, Any], scope: str) -> None:
    assert logout_input(document) == scope


@pytest.mark.parametrize("scope", ["", "Local", "all", 1, ["local"]])
def test_logout_scope_outside_the_three_is_refused(scope: object) -> None:
    assert_refused(logout_input, {"scope": scope}, "scope")


def test_reset_code_of_8_digits_is_accepted() -> None:
    document = {"email": EMAIL, "code": "01234567", "new_password": PASSWORD}
    assert reset_confirm_input(document) == ResetConfirmInput(EMAIL, "01234567", PASSWORD)


@pytest.mark.parametrize("code", ["1234567", "123456789", " 12345678", "1234567x", "\u0661" * 8, 12345678, None, ""])
def test_reset_code_that_is_not_8_digits_is_refused(code: object) -> None:
    assert_refused(reset_confirm_input, {"email": EMAIL, "code": code, "new_password": PASSWORD}, "code")
