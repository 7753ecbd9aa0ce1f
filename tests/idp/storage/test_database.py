"""Engines for the durable store (`idp.storage.database`): a SQLite file set up for one writer and
concurrent readers, PostgreSQL with a circuit breaker, and inserts where the first writer wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, select, text

from idp.storage.database import breaker_of, insert_new, make_engine


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
