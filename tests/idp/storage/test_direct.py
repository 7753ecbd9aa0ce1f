"""Statements sent straight to the driver answer like SQLAlchemy's, leave pooled connections as the
rest of the code expects them, and report an unreachable or lost database as `DatabaseUnavailable`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, bindparam, create_engine, insert, select, text
from sqlalchemy.pool import NullPool

from idp.storage.breaker import Unavailable
from idp.storage.database import DatabaseTooSlow, DatabaseUnavailable, breaker_of, make_engine
from idp.storage.direct import DirectStatement
from idp.storage.tables import ConsentRow
from tests.backends import postgres_database

pytestmark = pytest.mark.postgres

_consents = ConsentRow.__table__
_FIND = select(_consents.c.person_id, _consents.c.scopes).where(_consents.c.person_id == bindparam("person"))


@pytest.fixture
def engine() -> Iterator[Engine]:
    with postgres_database(migrated=True) as url:
        engine = make_engine(url, timeout=2, breaker_interval=30)
        try:
            yield engine
        finally:
            engine.dispose()


def test_a_row_reads_by_column_name_with_json_decoded(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(_consents), {"person_id": "p1", "client_id": "c1", "scopes": ["openid", "profile"],
                                         "granted_at": datetime.now(UTC)})
    row = DirectStatement(engine, _FIND).first({"person": "p1"})
    assert row is not None and row.person_id == "p1" and row.scopes == ["openid", "profile"]
    assert DirectStatement(engine, _FIND).first({"person": "nobody"}) is None


def test_each_statement_commits_by_itself_and_the_pool_keeps_transactions_for_everyone_else(engine: Engine) -> None:
    add = DirectStatement(engine, insert(_consents).values(
        person_id=bindparam("person"), client_id=text("'c1'"), scopes=text("'[]'::json"), granted_at=text("now()"),
    ).returning(_consents.c.person_id))
    assert add.first({"person": "p2"}) is not None
    # Committed without a COMMIT: another connection sees it.
    with engine.connect() as conn:
        assert conn.execute(_FIND, {"person": "p2"}).first() is not None
    # The pooled connection went back in transaction mode: a rolled-back change stays undone.
    with engine.connect() as conn:
        assert conn.connection.driver_connection.autocommit is False
        conn.execute(insert(_consents), {"person_id": "p3", "client_id": "c1", "scopes": [],
                                         "granted_at": datetime.now(UTC)})
        conn.rollback()
    assert DirectStatement(engine, _FIND).first({"person": "p3"}) is None


def test_an_unreachable_database_is_unavailable_and_opens_the_breaker() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/nowhere", timeout=2, breaker_interval=30)
    try:
        with pytest.raises(DatabaseUnavailable):
            DirectStatement(engine, _FIND).first({"person": "p"})
        breaker = breaker_of(engine)
        assert breaker is not None and not breaker.allow()
        with pytest.raises(Unavailable):  # at once now, without trying to connect
            DirectStatement(engine, _FIND).first({"person": "p"})
    finally:
        engine.dispose()


def test_a_connection_killed_by_the_server_is_unavailable_once_then_replaced(engine: Engine) -> None:
    find = DirectStatement(engine, _FIND)
    pid_of = DirectStatement(engine, select(text("pg_backend_pid() AS pid")))
    pid = pid_of.first({}).pid
    other = create_engine(engine.url, poolclass=NullPool)  # not a connection from the pool under test
    with other.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()
    with pytest.raises(DatabaseUnavailable):
        find.first({"person": "p"})
    assert find.first({"person": "p"}) is None  # a new connection answers
    assert pid_of.first({}).pid != pid


def test_a_statement_cancelled_by_the_server_is_unavailable(engine: Engine) -> None:
    slow = DirectStatement(engine, select(text("pg_sleep(5)")))
    with engine.connect() as conn:  # the same pooled connection is used next (pool of idle ones, LIFO)
        conn.exec_driver_sql("SET statement_timeout = 100")
        conn.commit()
    with pytest.raises(DatabaseTooSlow, match="statement timeout"):
        slow.first({})
