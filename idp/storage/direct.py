"""Hot statements sent straight to the PostgreSQL driver, past SQLAlchemy's execution machinery.

A refresh is two statements. Through a SQLAlchemy `Connection` each costs about three times the
CPU of the same statement sent with psycopg (the execution context and result objects, not the
SQL compilation, which is cached): at thousands of refreshes a second that is a large share of a
worker. The SQL text is still rendered from the SQLAlchemy Core statement, once, so table and
column names have one source; connections still come from the engine's pool, so its breaker,
idle pings and sizes apply. What SQLAlchemy's error handling would do is done here: a database
that cannot be reached, a connection lost mid-statement and a statement cancelled by the
server's timeout are all `DatabaseUnavailable` (503), never a raw driver error.

Statements run in autocommit mode: each is its own transaction, with no BEGIN or COMMIT round
trip. Whether the driver prepares them on the server is the connection's own setting (psycopg
prepares a statement after a few executions unless configured not to, as behind PgBouncer in
transaction mode).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import Engine
from sqlalchemy.sql import Executable

from idp.storage.database import DatabaseTooSlow, DatabaseUnavailable, breaker_of
from idp.web import loop_guard

log = logging.getLogger("idp.backends")


class DirectStatement:
    """One Core statement, rendered once for the engine's dialect and executed through the pool's
    driver connections. Only for PostgreSQL (psycopg): SQLite is in-process and gains nothing."""

    def __init__(self, engine: Engine, statement: Executable) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("direct statements are for PostgreSQL")
        self._engine = engine
        self._sql = str(statement.compile(dialect=engine.dialect))  # named %(param)s placeholders
        self._dbapi = engine.dialect.loaded_dbapi

    def first(self, params: Mapping[str, Any]) -> Any | None:
        """Execute and return the first row, a named tuple (columns by name, as SQLAlchemy rows)."""
        loop_guard.check("the database")
        raw = self._checkout()
        try:
            conn = raw.driver_connection
            conn.autocommit = True  # idle connection: no round trip
            try:
                with conn.cursor(row_factory=namedtuple_row) as cursor:
                    cursor.execute(self._sql, params)
                    row = cursor.fetchone() if cursor.description else None
            finally:
                if not conn.closed:
                    conn.autocommit = False  # what every other user of the pool expects
        except self._dbapi.Error as exc:
            self._failed(raw, exc)
            raise
        finally:
            raw.close()  # back to the pool (or discarded, if invalidated)
        return row

    def _checkout(self) -> Any:
        try:
            return self._engine.raw_connection()
        except DatabaseUnavailable:  # the breaker is open, or no pooled connection came free in time
            raise
        except Exception as exc:
            # The pool could not open a connection: the database is down (SQLAlchemy's own
            # connect path would have opened the breaker through its error hook).
            reason = str(getattr(exc, "orig", None) or exc).strip()
            breaker = breaker_of(self._engine)
            if breaker is not None:
                breaker.failed(reason)
            raise DatabaseUnavailable(reason, retry_after=breaker.retry_after() if breaker else 1,
                                      orig=exc) from None

    def _failed(self, raw: Any, exc: Exception) -> None:
        """Translate a driver error the way the engine's error hook does; other errors (a bad
        statement, a constraint) propagate unchanged."""
        reason = str(exc).strip()
        if isinstance(exc, self._dbapi.errors.QueryCanceled):
            # The statement timeout: the database is slow, not gone; the connection stays usable.
            raise DatabaseTooSlow(reason, orig=exc) from None
        if not self._engine.dialect.is_disconnect(exc, raw.driver_connection, None):
            return
        log.warning("database connection lost: %s", reason)
        raw.invalidate(exc)
        breaker = breaker_of(self._engine)
        raise DatabaseUnavailable(reason, retry_after=breaker.retry_after() if breaker else 1, orig=exc) from None
