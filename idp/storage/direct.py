"""Hot statements sent straight to the database driver, past SQLAlchemy's execution machinery.

A refresh is a lookup and a rotation. Through a SQLAlchemy `Connection` each statement costs three
(PostgreSQL) to ten (SQLite) times the CPU of the same statement given to the driver: the
execution context and result objects, not the SQL compilation, which is cached. At thousands of
refreshes a second that is a large share of a worker. What stays SQLAlchemy's:

- the SQL text, rendered once from the Core statement for the engine's dialect, so table and
  column names have one source;
- the conversions of values in and out (SQLAlchemy's own type processors: JSON and timestamps are
  stored exactly as the rest of the code stores them);
- the connections, from the engine's pool, so its breaker, idle pings, sizes and timeouts apply.

What SQLAlchemy's error hook would do is done here: a database that cannot be reached or a
connection lost mid-statement is `DatabaseUnavailable`, a statement the server cancelled is
`DatabaseTooSlow` (both 503), never a raw driver error.

On PostgreSQL single statements run in autocommit mode: each is its own transaction, with no BEGIN
or COMMIT round trip. Whether the driver prepares them on the server is the connection's own
setting (psycopg prepares a statement after a few executions unless the deployment is behind
PgBouncer in transaction mode, `IDP_DATABASE_TRANSACTION_POOLING`).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

from idp.storage.database import DatabaseUnavailable, unavailable
from idp.web import loop_guard


class DirectStatement:
    """One Core statement, rendered once for a dialect, with its parameter and column conversions."""

    def __init__(self, engine: Engine, statement: Select[Any] | UpdateBase) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._order = compiled.positiontup  # parameter names in order, for positional paramstyles
        self._to_db = {name: convert for name, bind in compiled.binds.items()
                       if (convert := bind.type._cached_bind_processor(dialect)) is not None}
        # Selected or returned columns (none for DML without RETURNING). Not `exported_columns`:
        # SQLAlchemy memoizes it on a DML statement and `.returning()` copies keep the stale value.
        columns = list(statement._returning if isinstance(statement, UpdateBase) else statement.selected_columns)
        self._row = namedtuple("Row", [c.key for c in columns]) if columns else None  # type: ignore[misc]
        self._from_db = [c.type._cached_result_processor(dialect, None) for c in columns]

    def parameters(self, values: Mapping[str, Any]) -> Mapping[str, Any] | tuple[Any, ...]:
        converted = {k: (self._to_db[k](v) if k in self._to_db else v) for k, v in values.items()}
        return tuple(converted[name] for name in self._order) if self._order else converted

    def row(self, values: tuple[Any, ...] | None) -> Any | None:
        """The first row as a named tuple (columns by name, as SQLAlchemy rows), or None."""
        if values is None or self._row is None:
            return None
        return self._row(*(convert(v) if convert else v for convert, v in zip(self._from_db, values, strict=True)))


Run = Callable[[DirectStatement, Mapping[str, Any]], tuple[int, Any | None]]


class DirectStatements:
    """Runs `DirectStatement`s on an engine's pooled driver connections."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dbapi = engine.dialect.loaded_dbapi
        self._server = engine.dialect.name == "postgresql"

    def prepare(self, statement: Select[Any] | UpdateBase) -> DirectStatement:
        return DirectStatement(self._engine, statement)

    def first(self, statement: DirectStatement, values: Mapping[str, Any]) -> Any | None:
        """Run one statement as its own transaction; return its first row (None if it has none)."""
        with self._connection(autocommit=True) as run:
            return run(statement, values)[1]

    @contextmanager
    def transaction(self) -> Iterator[Run]:
        """Statements run with the yielded function commit together when the block ends, or not
        at all if it raises. `run(statement, values)` returns (rows affected, first row)."""
        with self._connection(autocommit=False) as run:
            yield run

    @contextmanager
    def _connection(self, *, autocommit: bool) -> Iterator[Run]:
        loop_guard.check("the database")
        raw = self._checkout()
        conn = raw.driver_connection

        def run(statement: DirectStatement, values: Mapping[str, Any]) -> tuple[int, Any | None]:
            cursor = conn.cursor()
            try:
                cursor.execute(statement.sql, statement.parameters(values))
                first = cursor.fetchone() if cursor.description else None
                return cursor.rowcount, statement.row(first)
            finally:
                cursor.close()

        try:
            if autocommit and self._server:
                conn.autocommit = True  # an idle connection: no round trip
            try:
                yield run
                if not (autocommit and self._server):
                    conn.commit()
            except BaseException:
                if not getattr(conn, "closed", False) and not (autocommit and self._server):
                    conn.rollback()
                raise
            finally:
                if autocommit and self._server and not conn.closed:
                    conn.autocommit = False  # what every other user of the pool expects
        except self._dbapi.Error as exc:
            self._failed(raw, exc)
            raise
        finally:
            raw.close()  # back to the pool, or discarded if invalidated

    def _checkout(self) -> Any:
        try:
            return self._engine.raw_connection()
        except DatabaseUnavailable:  # the breaker is open, or no pooled connection came free in time
            raise
        except Exception as exc:
            if not self._server:
                raise
            # The pool could not open a connection (SQLAlchemy's own connect path would have gone
            # through its error hook: the same decision here).
            raise unavailable(self._engine, getattr(exc, "orig", None) or exc, connected=False, lost=False) from None

    def _failed(self, raw: Any, exc: Exception) -> None:
        """Translate a server database's driver error as the engine's error hook does (a lost
        connection is also discarded from the pool); other errors propagate unchanged."""
        if not self._server:
            return
        lost = self._engine.dialect.is_disconnect(exc, raw.driver_connection, None)
        translated = unavailable(self._engine, exc, connected=True, lost=lost)
        if translated is None:
            return
        if lost:
            raw.invalidate(exc)
        raise translated from None
