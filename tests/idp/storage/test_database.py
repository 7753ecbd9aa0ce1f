"""Engines for the durable store (`idp.storage.database`): a SQLite file set up for one writer and
concurrent readers, PostgreSQL with a circuit breaker, pool and statement timeouts answered as too
slow (503), and inserts where the first writer wins."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, select, text

from idp.storage.database import DatabaseTooSlow, breaker_of, insert_new, make_engine


def test_a_sqlite_file_is_created_with_its_folder_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "var" / "data" / "idp.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert path.exists()
    assert breaker_of(engine) is None  # a local file: no breaker
    engine.dispose()


@pytest.mark.postgres
def test_a_plain_postgresql_url_uses_psycopg_and_gets_a_breaker() -> None:
    from tests.backends import postgres_database

    with postgres_database() as url:
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        engine = make_engine(plain)
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        assert breaker_of(engine) is not None and breaker_of(engine).state == "closed"  # type: ignore[union-attr]
        engine.dispose()


def test_the_first_insert_wins_and_the_second_changes_nothing(engine: Engine) -> None:
    table = Table("first_writer", MetaData(), Column("key", String(64), primary_key=True),
                  Column("value", String(64)))
    table.create(engine)
    stmt = insert_new(engine, table, "key").returning(table.c.key)
    with engine.begin() as conn:
        first = conn.execute(stmt, {"key": "assertion-1", "value": "first"}).all()
    with engine.begin() as conn:
        second = conn.execute(stmt, {"key": "assertion-1", "value": "second"}).all()
        other = conn.execute(stmt, {"key": "assertion-2", "value": "other"}).all()
    assert first == [("assertion-1",)] and second == [] and other == [("assertion-2",)]
    with engine.connect() as conn:
        assert sorted(conn.execute(select(table.c.key, table.c.value)).all()) == [
            ("assertion-1", "first"), ("assertion-2", "other")]


@pytest.mark.postgres
def test_the_database_settings_reach_the_engine() -> None:
    from idp.services import make_database
    from idp.settings import Settings
    from tests.backends import postgres_database

    def server_side(engine: Engine) -> tuple[str, int | None]:
        with engine.connect() as conn:
            timeout = conn.execute(text("SHOW statement_timeout")).scalar()
            prepare_threshold = conn.connection.driver_connection.prepare_threshold  # type: ignore[union-attr]
        engine.dispose()
        return timeout, prepare_threshold

    with postgres_database() as url:
        settings = Settings(database_url=url, database_pool_size=3, database_max_overflow=2,
                            database_pool_timeout=1.5, database_statement_timeout=4)
        engine = make_database(settings)
        assert (engine.pool.size(), engine.pool._max_overflow, engine.pool.timeout()) == (3, 2, 1.5)  # type: ignore[attr-defined]
        assert server_side(engine) == ("4s", 5)
        # The command line: an operator watches it, and an import may rightly run long.
        assert server_side(make_database(settings, statement_timeout=False)) == ("0", 5)
        # Behind PgBouncer: no startup option (it refuses them), nothing prepared on the server.
        pooled = settings.model_copy(update={"database_transaction_pooling": True})
        assert server_side(make_database(pooled)) == ("0", None)


@pytest.mark.postgres
def test_a_statement_past_the_statement_timeout_is_too_slow_and_the_connection_is_kept() -> None:
    from tests.backends import postgres_database

    with postgres_database() as url:
        engine = make_engine(url, statement_timeout=0.2)
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "200ms"
            with pytest.raises(DatabaseTooSlow) as slow:
                conn.execute(text("SELECT pg_sleep(2)"))
            assert slow.value.retry_after == 1
            conn.rollback()
            assert conn.execute(text("SELECT 1")).scalar() == 1  # the same connection, still usable
        assert breaker_of(engine).state == "closed"  # type: ignore[union-attr]
        engine.dispose()


@pytest.mark.postgres
def test_waiting_past_the_pool_timeout_for_a_connection_is_too_slow() -> None:
    from tests.backends import postgres_database

    with postgres_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
        with engine.connect():
            started = time.monotonic()
            with pytest.raises(DatabaseTooSlow):
                engine.connect()
            assert time.monotonic() - started < 2
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
