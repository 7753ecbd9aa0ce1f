"""Activation codes on both databases: one live code per person, only its HMAC stored, a few wrong
codes kill it, it expires, and a new code from the office brings everything back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from levels.activation import CODE_DIGITS, Activations, ActivationStore, is_code_form, normalize_code
from levels.activation_sql import ActivationCodeRow, SqlActivationStore
from levels.iranian_input import make_national_code, to_persian_digits
from levels.people import SqlPersonStore, new_person

NOW = datetime(2026, 3, 21, 8, 0, tzinfo=UTC)
SECRET = b"k" * 32


@pytest.fixture
def clock():
    return [NOW]


@pytest.fixture
def people(engine) -> list[str]:
    store = SqlPersonStore(engine)
    ids = []
    for prefix in ("001234567", "007654321"):
        person = new_person(make_national_code(prefix), "Sara", "Ahmadi", now=NOW)
        store.add(person)
        ids.append(person.id)
    return ids


@pytest.fixture
def activations(engine, clock) -> Activations:
    return Activations(SqlActivationStore(engine), SECRET, ttl=7 * 24 * 3600, max_attempts=3,
                       clock=lambda: clock[0])


def test_sql_store_satisfies_the_protocol(engine):
    store: ActivationStore = SqlActivationStore(engine)
    assert store is not None


def test_a_code_is_eight_random_digits_and_works_once(activations, people):
    issued = activations.issue(people[0])
    assert len(issued.code) == CODE_DIGITS and issued.code.isdigit()
    assert issued.expires_at == NOW + timedelta(days=7)
    accepted = activations.check(people[0], issued.code)
    assert accepted is not None
    # Checking does not use it up: a person who leaves the password page can come back.
    assert activations.check(people[0], issued.code) == accepted
    assert activations.redeem(people[0], accepted)
    assert not activations.redeem(people[0], accepted)
    assert activations.check(people[0], issued.code) is None


def test_only_a_keyed_hash_is_stored(activations, engine, people):
    issued = activations.issue(people[0])
    with engine.connect() as conn:
        stored = conn.execute(select(ActivationCodeRow.code_hash)).scalar_one()
    assert issued.code not in stored and len(stored) == 64
    # Another key (another deployment) does not recognise the code.
    other = Activations(SqlActivationStore(engine), b"x" * 32)
    assert other.check(people[0], issued.code) is None


def test_persian_digits_and_separators_are_accepted(activations, people):
    issued = activations.issue(people[0])
    typed = to_persian_digits(f"{issued.code[:4]} {issued.code[4:]}")
    assert is_code_form(typed) and normalize_code(typed) == issued.code
    assert activations.check(people[0], typed) is not None


def test_a_code_belongs_to_its_person(activations, people):
    issued = activations.issue(people[0])
    activations.issue(people[1])
    assert activations.check(people[1], issued.code) is None
    assert activations.check(None, issued.code) is None  # a national code without an account


def test_a_new_code_replaces_the_old_one(activations, people):
    first = activations.issue(people[0])
    second = activations.issue(people[0])
    if first.code != second.code:  # one chance in 10^8 that they are the same
        assert activations.check(people[0], first.code) is None
    assert activations.check(people[0], second.code) is not None


def test_a_code_expires(activations, people, clock):
    issued = activations.issue(people[0])
    clock[0] = NOW + timedelta(days=7) - timedelta(seconds=1)
    accepted = activations.check(people[0], issued.code)
    assert accepted is not None
    clock[0] = NOW + timedelta(days=7)
    assert activations.check(people[0], issued.code) is None
    assert not activations.redeem(people[0], accepted)
    assert activations.pending(people[0]) is None


def test_wrong_codes_kill_the_code_and_a_new_one_fixes_it(activations, people):
    issued = activations.issue(people[0])
    wrong = "00000000" if issued.code != "00000000" else "11111111"
    for _ in range(3):
        assert activations.check(people[0], wrong) is None
    # Used up: even the right code no longer works...
    assert activations.check(people[0], issued.code) is None
    assert activations.pending(people[0]) is None
    # ...until the office issues a new one, which starts with no failures.
    again = activations.issue(people[0])
    assert activations.check(people[0], wrong if wrong != again.code else "22222222") is None
    assert activations.check(people[0], again.code) is not None


def test_failures_count_across_concurrent_guesses(engine, people):
    activations = Activations(SqlActivationStore(engine), SECRET, max_attempts=5)
    issued = activations.issue(people[0])
    wrong = "00000000" if issued.code != "00000000" else "11111111"
    threads = [threading.Thread(target=activations.check, args=(people[0], wrong)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert activations.check(people[0], issued.code) is None


def test_a_code_replaced_after_it_was_accepted_cannot_be_redeemed(activations, people):
    first = activations.issue(people[0])
    accepted = activations.check(people[0], first.code)
    assert accepted is not None
    activations.issue(people[0])
    assert not activations.redeem(people[0], accepted)


def test_malformed_input_is_never_a_code(activations, people):
    activations.issue(people[0])
    for junk in ("", "abc", "1" * 5000, "\x00" * 8, "١٢٣٤٥٦٧٨٩", "12345678 or 1=1"):
        assert activations.check(people[0], junk) is None
    assert not is_code_form("1234567") and not is_code_form("abcdefgh") and is_code_form("1234-5678")


class _Calls:
    """The real SQL store, noting which of its operations each check ran (how long a check takes
    follows from them: a national code with no account must cost what a wrong code costs)."""

    def __init__(self, store: SqlActivationStore) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        operation = getattr(self._store, name)

        def call(*args, **kwargs):
            self.calls.append(name)
            return operation(*args, **kwargs)
        return call


def test_no_account_costs_the_same_work_as_a_wrong_code(engine, people):
    calls = _Calls(SqlActivationStore(engine))
    activations = Activations(calls, SECRET)  # type: ignore[arg-type]
    issued = activations.issue(people[0])
    wrong = "00000000" if issued.code != "00000000" else "11111111"
    calls.calls.clear()
    assert activations.check(people[0], wrong) is None
    with_account = list(calls.calls)
    calls.calls.clear()
    assert activations.check(None, wrong) is None
    assert calls.calls == with_account == ["get", "count_failure"]
    calls.calls.clear()
    assert activations.check(people[1], wrong) is None  # an account without a code
    assert calls.calls == with_account
