"""Engine construction for the durable store (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

import math
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from idp import loop_guard
from idp.breaker import CircuitBreaker, Unavailable


class DatabaseUnavailable(Unavailable, OperationalError):
    """The database could not be reached; answered with 503, never 500. Still an SQLAlchemy
    `OperationalError`, so code that handles database errors (the key ring keeping its keys, the
    command line printing a message) handles this one too."""

    backend = "database"

    def __init__(self, reason: str, retry_after: int = 1, orig: BaseException | None = None) -> None:
        OperationalError.__init__(self, None, None, orig or ConnectionError(reason), connection_invalidated=True)
        self.retry_after = retry_after
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


_breakers: WeakKeyDictionary[Engine, CircuitBreaker] = WeakKeyDictionary()


def breaker_of(engine: Engine) -> CircuitBreaker | None:
    """The engine's circuit breaker (a server database has one; SQLite, a local file, has none)."""
    return _breakers.get(engine)


def make_engine(url: str, *, timeout: float = 3.0, breaker_interval: float = 5.0) -> Engine:
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

        _guard_event_loop(engine)
        return engine
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg"))
        connect_args["connect_timeout"] = max(2, math.ceil(timeout))  # libpq: whole seconds, at least 2
    # pre-ping: a connection that died with a database restart is replaced before use, so the
    # first request after the restart succeeds (one round trip per checkout; see README).
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800, pool_pre_ping=True,
                           connect_args=connect_args)
    _guard_event_loop(engine)
    _add_breaker(engine, CircuitBreaker("database", breaker_interval))
    return engine


def _guard_event_loop(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _not_on_loop(*_: object) -> None:
        loop_guard.check("the database")


def _add_breaker(engine: Engine, breaker: CircuitBreaker) -> None:
    """While the database is known down, connecting fails at once with `DatabaseUnavailable`;
    a lost connection or a failed connect opens the breaker, a successful connect closes it."""
    _breakers[engine] = breaker

    @event.listens_for(engine, "do_connect")
    def _before_connect(*_: object) -> None:
        if not breaker.allow():
            raise DatabaseUnavailable("the database is down", retry_after=breaker.retry_after())

    @event.listens_for(engine, "connect")
    def _connected(*_: object) -> None:
        breaker.succeeded()

    @event.listens_for(engine, "handle_error")
    def _unreachable(context: ExceptionContext) -> Exception | None:
        if context.is_pre_ping:
            return None  # the pool replaces the connection itself
        if not (context.is_disconnect or context.connection is None):
            return None  # an error in a statement, not a lost database
        reason = str(context.original_exception).strip()
        breaker.failed(reason)
        return DatabaseUnavailable(reason, retry_after=breaker.retry_after(), orig=context.original_exception)
