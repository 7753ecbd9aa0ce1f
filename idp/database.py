"""Engine construction for the durable store (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, Insert, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection, handed to one thread at a time: SQLite allows a single writer, and
        # queueing in the pool is far cheaper than threads sleeping in SQLite's busy handler.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=60,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets readers proceed while the CLI or another request writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    # No pre-ping: it costs a round trip per checkout on the hot path; recycling old connections
    # and SQLAlchemy's invalidation on disconnect errors cover server restarts.
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)


def insert_new(engine: Engine, table: Table, *key: str) -> Insert:
    """An INSERT that does nothing when a row with the same `key` columns exists (the first of
    concurrent writers wins). Add `.returning(...)` to learn whether it was this one: rowcount is
    not reliable for that across drivers."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=list(key))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(key))
    return stmt
