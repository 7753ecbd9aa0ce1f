"""Statements sent straight to the driver answer like SQLAlchemy's (the same values in and out), commit
or roll back as a whole, leave pooled connections as the rest of the code expects them, and report an
unreachable, lost or too slow database as 503 errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, bindparam, create_engine, insert, literal_column, select, text
from sqlalchemy.pool import NullPool

from idp.storage.breaker import Unavailable
from idp.storage.database import DatabaseTooSlow, DatabaseUnavailable, breaker_of, make_engine
from idp.storage.direct import DirectStatements
from idp.storage.migrate import upgrade as migrate
from idp.storage.tables import ConsentRow
from tests.backends import postgres_database

_consents = ConsentRow.__table__
_FIND = select(_consents.c.person_id, _consents.c.scopes).where(_consents.c.person_id == bindparam("person"))


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with postgres_database(migrated=True) as url:
        engine = make_engine(url, timeout=2, breaker_interval=30)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


_ADD = insert(_consents).values(person_id=bindparam("p"), client_id=bindparam("c"), scopes=bindparam("s"),
                                granted_at=bindparam("at"))
_FIND_ALL = select(_consents).where(_consents.c.person_id == bindparam("person"))


def test_values_go_in_and_come_out_as_through_sqlalchemy(engine: Engine) -> None:
    direct = DirectStatements(engine)
    at = datetime(2026, 12, 4, 10, 30, 15, 123456, tzinfo=UTC)
    direct.first(direct.prepare(_ADD), {"p": "p1", "c": "c1", "s": ["openid", "profile"], "at": at})
    with engine.begin() as conn:  # written by SQLAlchemy, read directly
        conn.execute(insert(_consents), {"person_id": "p2", "client_id": "c1", "scopes": {"a": [1]},
                                         "granted_at": at})
    with engine.connect() as conn:
        expected = [conn.execute(_FIND_ALL, {"person": p}).one() for p in ("p1", "p2")]
    got = [direct.first(direct.prepare(_FIND_ALL), {"person": p}) for p in ("p1", "p2")]
    assert [tuple(r) for r in got] == [tuple(r) for r in expected]
    assert got[0].scopes == ["openid", "profile"] and got[1].scopes == {"a": [1]}
    assert direct.first(direct.prepare(_FIND_ALL), {"person": "nobody"}) is None


def test_a_transaction_commits_together_or_not_at_all(engine: Engine) -> None:
    direct = DirectStatements(engine)
    add, find = direct.prepare(_ADD), direct.prepare(_FIND_ALL)
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError), direct.transaction() as run:
        run(add, {"p": "p3", "c": "c1", "s": [], "at": now})
        raise RuntimeError("changed my mind")
    assert direct.first(find, {"person": "p3"}) is None
    with direct.transaction() as run:
        assert run(add, {"p": "p3", "c": "c1", "s": [], "at": now})[0] == 1
        run(add, {"p": "p3", "c": "c2", "s": [], "at": now})
    with engine.connect() as conn:
        assert len(conn.execute(_FIND_ALL, {"person": "p3"}).all()) == 2


@pytest.mark.postgres
def test_on_postgres_one_statement_commits_by_itself_and_the_pool_keeps_transactions(pg_engine: Engine) -> None:
    direct = DirectStatements(pg_engine)
    add = direct.prepare(_ADD.returning(_consents.c.person_id))
    assert direct.first(add, {"p": "p2", "c": "c1", "s": [], "at": datetime.now(UTC)}) is not None
    # Committed without a COMMIT: another connection sees it.
    with pg_engine.connect() as conn:
        assert conn.execute(_FIND, {"person": "p2"}).first() is not None
    # The pooled connection went back in transaction mode: a rolled-back change stays undone.
    with pg_engine.connect() as conn:
        assert conn.connection.driver_connection.autocommit is False
        conn.execute(insert(_consents), {"person_id": "p3", "client_id": "c1", "scopes": [],
                                         "granted_at": datetime.now(UTC)})
        conn.rollback()
    assert direct.first(direct.prepare(_FIND), {"person": "p3"}) is None


@pytest.mark.postgres
def test_an_unreachable_database_is_unavailable_and_opens_the_breaker() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/nowhere", timeout=2, breaker_interval=30)
    try:
        direct = DirectStatements(engine)
        with pytest.raises(DatabaseUnavailable):
            direct.first(direct.prepare(_FIND), {"person": "p"})
        breaker = breaker_of(engine)
        assert breaker is not None and not breaker.allow()
        with pytest.raises(Unavailable):  # at once now, without trying to connect
            direct.first(direct.prepare(_FIND), {"person": "p"})
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_killed_by_the_server_is_unavailable_once_then_replaced(pg_engine: Engine) -> None:
    engine, direct = pg_engine, DirectStatements(pg_engine)
    find, pid_of = direct.prepare(_FIND), direct.prepare(select(literal_column("pg_backend_pid()").label("pid")))
    pid = direct.first(pid_of, {}).pid
    other = create_engine(engine.url, poolclass=NullPool)  # not a connection from the pool under test
    with other.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()
    with pytest.raises(DatabaseUnavailable):
        direct.first(find, {"person": "p"})
    assert direct.first(find, {"person": "p"}) is None  # a new connection answers
    assert direct.first(pid_of, {}).pid != pid


@pytest.mark.postgres
def test_a_statement_cancelled_by_the_server_is_too_slow(pg_engine: Engine) -> None:
    direct = DirectStatements(pg_engine)
    with pg_engine.connect() as conn:  # the same pooled connection is used next (pool of idle ones, LIFO)
        conn.exec_driver_sql("SET statement_timeout = 100")
        conn.commit()
    with pytest.raises(DatabaseTooSlow, match="statement timeout"):
        direct.first(direct.prepare(select(text("pg_sleep(5)"))), {})
