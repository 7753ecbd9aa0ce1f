import pytest
from argon2 import PasswordHasher

from levels.authenticators.password import Passwords

FAST = {"memory_kib": 8, "time_cost": 1, "parallelism": 1}


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(**FAST)


def test_defaults_are_the_owasp_argon2id_baseline():
    assert Passwords().hash("correct horse").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_hash_is_salted_argon2id(passwords):
    first, second = passwords.hash("correct horse"), passwords.hash("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second


def test_verify_accepts_the_right_password(passwords):
    assert passwords.verify(passwords.hash("correct horse"), "correct horse") is True


def test_verify_accepts_non_ascii_passwords(passwords):
    assert passwords.verify(passwords.hash("رمز عبور ۱۲۳"), "رمز عبور ۱۲۳") is True


def test_verify_rejects_a_wrong_password(passwords):
    assert passwords.verify(passwords.hash("correct horse"), "correct horsE") is False


def test_verify_without_a_hash_is_false(passwords):
    assert passwords.verify(None, "") is False
    assert passwords.verify(None, "correct horse") is False


def test_verify_without_a_hash_still_does_argon2_work(monkeypatch, passwords):
    checked = []
    original = PasswordHasher.verify

    def recording(self, hash, password):
        checked.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", recording)
    passwords.verify(None, "correct horse")
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")


def test_verify_with_a_malformed_hash_is_false(passwords):
    assert passwords.verify("not a hash", "correct horse") is False
    assert passwords.verify("$argon2id$v=19$m=8,t=1,p=1$broken", "correct horse") is False


def test_needs_rehash_when_parameters_change(passwords):
    old = passwords.hash("correct horse")
    assert passwords.needs_rehash(old) is False
    assert Passwords(memory_kib=16, time_cost=1).needs_rehash(old) is True


def test_another_instance_verifies_older_hashes(passwords):
    old = passwords.hash("correct horse")
    assert Passwords(memory_kib=16, time_cost=2).verify(old, "correct horse") is True
