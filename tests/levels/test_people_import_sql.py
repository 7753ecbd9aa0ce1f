from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from idp.storage.database import make_engine
from levels.iranian_input import make_national_code
from levels.people import SqlPersonStore, new_person
from levels.people_import import BatchPlan, PeopleImportStore
from levels.people_import_sql import SqlPeopleImport

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
CODE = make_national_code("001234567")
OTHER = make_national_code("002345671")


@pytest.fixture
def imports(engine) -> SqlPeopleImport:
    return SqlPeopleImport(engine)


def test_satisfies_the_protocol(imports):
    store: PeopleImportStore = imports
    assert store is imports


def test_write_batch_inserts_then_reads_and_updates(engine, imports):
    sara = new_person(CODE, "سارا", "احمدی", birthdate=date(1990, 3, 21), mobile="+989121234567", now=NOW)
    seen = []

    def insert(existing):
        seen.append(dict(existing))
        return BatchPlan(inserts=[sara], unchanged=0)

    assert imports.write_batch([CODE, OTHER], insert).inserts == [sara]
    assert seen == [{}]
    people = SqlPersonStore(engine)
    assert people.get_by_national_code(CODE) == sara

    def update(existing):
        seen.append(dict(existing))
        return BatchPlan(updates=[replace(existing[CODE], mobile="+989120000000", proofing_tier=2)], unchanged=1)

    assert imports.write_batch([CODE, OTHER], update).unchanged == 1
    stored = seen[-1][CODE]
    assert (stored.id, stored.given_name, stored.mobile, stored.mobile_verified, stored.proofing_tier) == (
        sara.id, "سارا", "+989121234567", False, 1)
    assert list(seen[-1]) == [CODE]
    after = people.get_by_national_code(CODE)
    assert (after.mobile, after.proofing_tier, after.birthdate) == ("+989120000000", 2, date(1990, 3, 21))


def test_a_person_added_meanwhile_replans_the_batch_once(engine, imports):
    # Another process: its own engine (the SQLite one has a single connection).
    elsewhere = make_engine(engine.url.render_as_string(hide_password=False))
    people = SqlPersonStore(elsewhere)
    calls = []

    def plan(existing):
        calls.append(dict(existing))
        if len(calls) == 1:
            # Someone registers this national code between the batch's read and its insert.
            people.add(new_person(CODE, "", "", now=NOW))
            return BatchPlan(inserts=[new_person(CODE, "Sara", "Ahmadi", now=NOW)])
        return BatchPlan(updates=[replace(existing[CODE], given_name="Sara")])

    written = imports.write_batch([CODE], plan)
    assert len(calls) == 2 and list(calls[1]) == [CODE]
    assert written.updates and not written.inserts
    assert people.get_by_national_code(CODE).given_name == "Sara"
    elsewhere.dispose()
