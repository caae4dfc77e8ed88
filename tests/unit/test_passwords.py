"""Passwords: argon2id at or above OWASP's minimum, read back from the encoded hash itself."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from lambda_auth import passwords

PASSWORD = "correct horse 42"


@pytest.fixture(scope="module")
def stored_hash() -> str:
    return passwords.hash_password(PASSWORD)


def test_hash_is_argon2id_with_at_least_19_mib_two_passes_and_one_lane(stored_hash: str) -> None:
    parameters = extract_parameters(stored_hash)
    assert stored_hash.startswith("$argon2id$")
    assert parameters.type is Type.ID
    assert parameters.memory_cost >= 19 * 1024
    assert parameters.time_cost >= 2
    assert parameters.parallelism == 1


def test_hash_does_not_contain_the_password(stored_hash: str) -> None:
    assert PASSWORD not in stored_hash


def test_same_password_hashes_differently_each_time(stored_hash: str) -> None:
    assert passwords.hash_password(PASSWORD) != stored_hash


def test_verify_accepts_the_right_password(stored_hash: str) -> None:
    assert passwords.verify_password(stored_hash, PASSWORD) is True


@pytest.mark.parametrize("attempt", ["correct horse 43", "Correct horse 42", "", PASSWORD + " "])
def test_verify_refuses_a_wrong_password(stored_hash: str, attempt: str) -> None:
    assert passwords.verify_password(stored_hash, attempt) is False


@pytest.mark.parametrize(
    "unreadable",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
        "$argon2x$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObé",
        "\x00",
    ],
)
def test_verify_answers_false_for_an_unreadable_hash(unreadable: str) -> None:
    assert passwords.verify_password(unreadable, PASSWORD) is False


def test_verify_answers_false_for_a_password_that_is_not_encodable_text(stored_hash: str) -> None:
    assert passwords.verify_password(stored_hash, "lone \ud800 surrogate") is False


def test_hash_made_today_needs_no_rehash(stored_hash: str) -> None:
    assert passwords.needs_rehash(stored_hash) is False


@pytest.mark.parametrize(
    "weaker",
    [
        PasswordHasher(time_cost=1, memory_cost=19 * 1024, parallelism=1, type=Type.ID),
        PasswordHasher(time_cost=2, memory_cost=8 * 1024, parallelism=1, type=Type.ID),
        PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.I),
    ],
    ids=["fewer-passes", "less-memory", "argon2i"],
)
def test_hash_made_with_weaker_parameters_needs_rehash_and_still_verifies(weaker: PasswordHasher) -> None:
    old_hash = weaker.hash(PASSWORD)
    assert passwords.needs_rehash(old_hash) is True
    assert passwords.verify_password(old_hash, PASSWORD) is True


def test_burn_verification_returns_nothing(stored_hash: str) -> None:
    assert passwords.burn_verification(PASSWORD) is None  # type: ignore[func-returns-value]


def test_burn_verification_does_a_full_verification_against_a_hash_of_todays_cost(
    stored_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[tuple[str, bool]] = []
    real_verify = passwords._verify

    def spy(encoded_hash: str, password: str) -> bool:
        verified.append((encoded_hash, real_verify(encoded_hash, password)))
        return verified[-1][1]

    monkeypatch.setattr(passwords, "_verify", spy)
    passwords.burn_verification(PASSWORD)
    assert len(verified) == 1
    burned_hash, matched = verified[0]
    assert extract_parameters(burned_hash) == extract_parameters(stored_hash)
    assert matched is False


# Unicode: checked in NFKC form, as NIST SP 800-63B asks

COMPOSED = "p\u00e4ssword1"  # "ä" as one code point (NFC), as most keyboards type it
DECOMPOSED = "pa\u0308ssword1"  # "a" and a combining diaeresis (NFD), as some systems send it


def test_a_password_typed_composed_matches_it_typed_decomposed() -> None:
    stored = passwords.hash_password(COMPOSED)
    assert passwords.verify_password(stored, DECOMPOSED)
    assert passwords.verify_password(passwords.hash_password(DECOMPOSED), COMPOSED)


def test_compatibility_forms_match_their_plain_letters() -> None:
    assert passwords.verify_password(passwords.hash_password("ﬁsh and chips 1"), "fish and chips 1")


def test_an_ascii_password_is_hashed_as_typed() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert PasswordHasher().verify(stored, PASSWORD)
    assert passwords.check_password(stored, PASSWORD) == passwords.Check(accepted=True, rehash=False)


def test_a_hash_made_from_a_password_as_typed_still_matches_and_is_made_again() -> None:
    typed_before_normalising = PasswordHasher(memory_cost=19 * 1024, time_cost=2, parallelism=1).hash(DECOMPOSED)
    assert passwords.check_password(typed_before_normalising, DECOMPOSED) == passwords.Check(True, rehash=True)
    assert passwords.check_password(typed_before_normalising, COMPOSED).accepted is False


def test_a_wrong_password_costs_as_many_verifications_as_an_unknown_email(monkeypatch: pytest.MonkeyPatch) -> None:
    verified: list[str] = []
    real = passwords._verify

    def counting(encoded_hash: str, form: str) -> bool:
        verified.append(form)
        return real(encoded_hash, form)

    monkeypatch.setattr(passwords, "_verify", counting)
    stored = passwords.hash_password(COMPOSED)
    for attempt in ("wrong pässword1", "wrong pa\u0308ssword1", "wrong password1"):
        verified.clear()
        passwords.check_password(stored, attempt)
        wrong = len(verified)
        verified.clear()
        passwords.burn_verification(attempt)
        assert len(verified) == wrong
