import threading
from datetime import UTC, datetime, timedelta

import pytest

from levels.iranian_input import make_national_code
from levels.offices import (
    DailyLimitReached,
    InvalidOffice,
    OfficeExists,
    Offices,
    OfficeStore,
    OperatorExists,
    UnknownOffice,
    UnknownOperator,
    office_day_start,
)
from levels.offices_sql import SqlOfficeStore
from levels.people import SqlPersonStore, new_person

# 20:00 UTC is 23:30 in Tehran: half an hour before the office day turns.
NOW = datetime(2025, 3, 21, 20, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return [NOW]


@pytest.fixture
def audit():
    return []


@pytest.fixture
def offices(engine, clock, audit) -> Offices:
    return Offices(SqlOfficeStore(engine), lambda kind, detail: audit.append((kind, dict(detail))),
                   daily_limit=2, clock=lambda: clock[0])


@pytest.fixture
def person(engine):
    p = new_person(make_national_code("001234567"), "S", "A", now=NOW)
    SqlPersonStore(engine).add(p)
    return p


def test_sql_office_store_satisfies_the_protocol(engine):
    store: OfficeStore = SqlOfficeStore(engine)
    assert store is not None


def test_an_office_is_added_listed_by_province_and_disabled(offices, audit):
    offices.add("thr-012", name_fa="دفتر پیشخوان ۱۲", name_en="Counter office 12", province="Tehran")
    offices.add("ISF-1", name_fa="دفتر اصفهان", name_en="Isfahan office", province="Isfahan")
    assert [o.code for o in offices.all()] == ["ISF-1", "THR-012"]  # by province, code upper-cased
    offices.set_active("THR-012", False)
    assert [o.code for o in offices.all(active_only=True)] == ["ISF-1"]
    assert ("office.disabled", {"office": "THR-012"}) in audit
    with pytest.raises(OfficeExists):
        offices.add("THR-012", name_fa="x", name_en="x", province="Tehran")
    with pytest.raises(UnknownOffice):
        offices.set_active("NOPE", True)


@pytest.mark.parametrize("code", ["", "x", "A B", "-AB", "A" * 40, "کد"])
def test_a_bad_office_code_is_refused(offices, code):
    with pytest.raises(InvalidOffice):
        offices.add(code, name_fa="x", name_en="x", province="Tehran")


def test_empty_names_are_refused(offices):
    with pytest.raises(InvalidOffice):
        offices.add("THR-1", name_fa="  ", name_en="x", province="Tehran")


def test_an_operator_works_at_one_active_office(offices, person):
    offices.add("THR-1", name_fa="الف", name_en="A", province="Tehran")
    offices.add("THR-2", name_fa="ب", name_en="B", province="Tehran")
    with pytest.raises(UnknownOffice):
        offices.add_operator("NOPE", person.id)
    offices.add_operator("THR-1", person.id)
    with pytest.raises(OperatorExists):
        offices.add_operator("THR-2", person.id)
    desk = offices.desk(person.id)
    assert desk is not None and desk[1].code == "THR-1"
    offices.set_active("THR-1", False)
    assert offices.desk(person.id) is None  # a disabled office's operators cannot act
    offices.remove_operator(person.id)
    assert offices.operators() == []
    with pytest.raises(UnknownOperator):
        offices.remove_operator(person.id)


def test_the_daily_limit_counts_the_office_day_durably(engine, offices, person, clock, audit):
    offices.add("THR-1", name_fa="الف", name_en="A", province="Tehran")
    operator = offices.add_operator("THR-1", person.id)
    offices.record(operator, "lookup", None)
    offices.record(operator, "verified", person.id)
    # Another service instance on the same database sees the same count.
    again = Offices(SqlOfficeStore(engine), lambda k, d: None, daily_limit=2, clock=lambda: clock[0])
    with pytest.raises(DailyLimitReached):
        again.check_allowance(operator)
    with pytest.raises(DailyLimitReached):
        again.record(operator, "lookup", None)
    clock[0] = NOW + timedelta(hours=1)  # past Tehran midnight: a new office day
    assert office_day_start(clock[0]) > NOW
    again.check_allowance(operator)
    again.record(operator, "lookup", None)
    assert [a.action for a in again.history(person.id)] == ["lookup", "verified", "lookup"]


def test_the_province_is_one_of_irans_by_either_name(offices):
    assert offices.add("QOM-1", name_fa="الف", name_en="A", province="  qom ").province == "Qom"
    assert offices.add("ISF-9", name_fa="ب", name_en="B", province="اصفهان").province == "Isfahan"
    with pytest.raises(InvalidOffice):
        offices.add("XX-1", name_fa="ب", name_en="B", province="Atlantis")


RACERS = 12
RACE_LIMIT = 3


def test_concurrent_actions_of_one_operator_never_pass_the_daily_limit(database_url, person):
    """Many requests of one operator at once, each on its own connection (as several workers or
    processes would be): exactly the limit is stored, the others are refused."""
    from idp.storage.database import make_engine

    engines = [make_engine(database_url) for _ in range(RACERS)]
    try:
        setup = Offices(SqlOfficeStore(engines[0]), lambda kind, detail: None, daily_limit=RACE_LIMIT,
                        clock=lambda: NOW)
        setup.add("THR-1", name_fa="الف", name_en="A", province="Tehran")
        operator = setup.add_operator("THR-1", person.id)
        start = threading.Barrier(RACERS)
        outcomes: list[str] = []

        def act(engine) -> None:
            offices = Offices(SqlOfficeStore(engine), lambda kind, detail: None, daily_limit=RACE_LIMIT,
                              clock=lambda: NOW)
            start.wait()
            try:
                offices.record(operator, "lookup", None)
                outcomes.append("stored")
            except DailyLimitReached:
                outcomes.append("refused")

        threads = [threading.Thread(target=act, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == ["refused"] * (RACERS - RACE_LIMIT) + ["stored"] * RACE_LIMIT
        assert len(setup.history(person.id, limit=100)) == RACE_LIMIT
    finally:
        for engine in engines:
            engine.dispose()
