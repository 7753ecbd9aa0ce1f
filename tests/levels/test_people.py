from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete

from levels.iranian_input import InvalidNationalCode, make_national_code
from levels.people import Person, PersonExists, PersonStore, SqlPersonStore, UnknownPerson, new_person
from levels.store_sql import PersonRow

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
CODE = make_national_code("001234567")
OTHER_CODE = make_national_code("987654321")


def sara(code: str = CODE) -> Person:
    return new_person(code, "Sara", "Ahmadi", birthdate=date(1990, 3, 21), mobile="+989121234567",
                      mobile_verified=True, proofing_tier=2, now=NOW)


@pytest.fixture
def people(engine) -> SqlPersonStore:
    return SqlPersonStore(engine)


def test_sql_store_satisfies_the_protocol(people):
    store: PersonStore = people
    assert store is people


def test_new_person_has_a_random_opaque_id():
    a, b = sara(), sara()
    assert a.id != b.id
    assert len(a.id) >= 32 and CODE not in a.id
    assert a.status == "active" and a.created_at == NOW


def test_new_person_defaults():
    p = new_person(CODE, "Ali", "Karimi", now=NOW)
    assert (p.birthdate, p.mobile, p.mobile_verified, p.proofing_tier) == (None, None, False, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"national_code": "0012345678"},
        {"mobile": "09121234567"},
        {"mobile": None, "mobile_verified": True},
        {"proofing_tier": 0},
        {"proofing_tier": 4},
        {"now": datetime(2025, 1, 1)},
    ],
)
def test_new_person_rejects_values_that_cannot_be_stored(kwargs):
    args = {"national_code": CODE, "given_name": "Sara", "family_name": "Ahmadi", "now": NOW} | kwargs
    with pytest.raises(ValueError):
        new_person(**args)


def test_new_person_stores_names_with_persian_yeh_and_kaf():
    # Typed on an Arabic keyboard or exported by a legacy system: ي ى ك look like ی ی ک but do not
    # compare equal, so a search for the Persian spelling would never find the person.
    p = new_person(CODE, " علي\u200f ", "كريمى  زاده", now=NOW)
    assert (p.given_name, p.family_name) == ("علی", "کریمی زاده")


def test_new_person_rejects_invalid_national_code_with_its_own_error():
    with pytest.raises(InvalidNationalCode):
        new_person("1111111111", "A", "B", now=NOW)


def test_add_then_get_round_trips(people):
    person = sara()
    people.add(person)
    assert people.get(person.id) == person
    assert people.get_by_national_code(CODE) == person


def test_created_at_comes_back_in_utc(people):
    tehran = timezone(timedelta(hours=3, minutes=30))
    person = new_person(CODE, "Sara", "Ahmadi", now=datetime(2025, 3, 21, 12, 0, tzinfo=tehran))
    people.add(person)
    stored = people.get(person.id)
    assert stored is not None
    assert stored.created_at == person.created_at
    assert stored.created_at.utcoffset() == timedelta(0)


def test_unknown_person_is_none(people):
    assert people.get("nobody") is None
    assert people.get_by_national_code(OTHER_CODE) is None


def test_add_refuses_a_taken_national_code(people):
    people.add(sara())
    with pytest.raises(PersonExists):
        people.add(sara())


def test_add_refuses_a_taken_id(people):
    person = sara()
    people.add(person)
    with pytest.raises(PersonExists):
        people.add(replace(sara(OTHER_CODE), id=person.id))


def test_password_hash_set_and_replace(people):
    person = sara()
    people.add(person)
    assert people.password_hash(person.id) is None
    people.set_password_hash(person.id, "$argon2id$first", NOW)
    assert people.password_hash(person.id) == "$argon2id$first"
    people.set_password_hash(person.id, "$argon2id$second", NOW + timedelta(days=1))
    assert people.password_hash(person.id) == "$argon2id$second"


def test_password_hash_needs_a_person(people):
    with pytest.raises(UnknownPerson):
        people.set_password_hash("nobody", "$argon2id$x", NOW)
    assert people.password_hash("nobody") is None


def test_password_goes_with_the_person(people, engine):
    person = sara()
    people.add(person)
    people.set_password_hash(person.id, "$argon2id$x", NOW)
    with engine.begin() as conn:
        conn.execute(delete(PersonRow.__table__).where(PersonRow.__table__.c.id == person.id))
    assert people.password_hash(person.id) is None
