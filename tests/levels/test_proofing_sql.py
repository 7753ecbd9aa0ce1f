from datetime import UTC, datetime, timedelta

import pytest

from levels.iranian_input import make_national_code
from levels.people import SqlPersonStore, UnknownPerson, new_person
from levels.proofing import TRUST_FRAMEWORK, ProofingRecordStore
from levels.proofing_sql import SqlProofingStore

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)


@pytest.fixture
def people(engine) -> SqlPersonStore:
    return SqlPersonStore(engine)


@pytest.fixture
def records(engine) -> SqlProofingStore:
    return SqlProofingStore(engine)


def enrol(people: SqlPersonStore):
    person = new_person(make_national_code("001234567"), "S", "A", now=NOW)
    people.add(person)
    return person


# Proofing records ----------------------------------------------------------------------------------


def test_sql_proofing_store_satisfies_the_protocol(records):
    store: ProofingRecordStore = records
    assert store is records


def test_latest_record_is_the_most_recent(people, records):
    person = enrol(people)
    assert records.latest(person.id) is None
    records.add(person.id, tier=2, method="registry", trust_framework=TRUST_FRAMEWORK, evidence={"a": 1},
                verified_at=NOW)
    later = records.add(person.id, tier=3, method="in_person", trust_framework=TRUST_FRAMEWORK,
                        evidence={"b": [1, 2]}, verified_at=NOW + timedelta(days=1), operator="op-7")
    assert records.latest(person.id) == later
    assert later.verified_at.tzinfo is not None and later.operator == "op-7"


def test_record_for_an_unknown_person_is_refused(records):
    with pytest.raises(UnknownPerson):
        records.add("nobody", tier=2, method="registry", trust_framework=TRUST_FRAMEWORK, evidence={},
                    verified_at=NOW)
