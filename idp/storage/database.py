"""Engine construction for the durable store (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, Insert, Table, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import InvalidatePoolError, OperationalError
from sqlalchemy.pool import QueuePool

from idp.storage.breaker import CircuitBreaker, Unavailable
from idp.web import loop_guard

log = logging.getLogger("idp.backends")


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
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800, connect_args=connect_args)
    _guard_event_loop(engine)
    _ping_idle_connections(engine)
    _add_breaker(engine, CircuitBreaker("database", breaker_interval))
    return engine


# Seconds a pooled connection may sit unused before it is pinged on checkout.
PING_IF_IDLE = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping, only for connections that sat unused for `PING_IF_IDLE` seconds.

    A database restart kills every pooled connection; without a ping the first request on each
    would fail. Pinging on every checkout costs a round trip each time (three per refresh_token
    request), so busy connections are trusted: if the database dies under load, the failed requests
    get 503 and the first lost connection makes SQLAlchemy replace the whole pool. A failed ping
    does the same, before any request sees it.
    """
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IF_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError(f"connection lost while idle: {exc}") from None


def _guard_event_loop(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _not_on_loop(*_: object) -> None:
        loop_guard.check("the database")


def _add_breaker(engine: Engine, breaker: CircuitBreaker) -> None:
    """While the database is known down, connecting fails at once with `DatabaseUnavailable`;
    a failed connect opens the breaker, a successful one closes it. Both a failed connect and a
    connection lost mid-request are answered with 503."""
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
        reason = str(context.original_exception).strip()
        if context.connection is None:
            breaker.failed(reason)  # could not connect: the database is down
        elif context.is_disconnect:
            # One connection died (a restart, a firewall, an administrator): SQLAlchemy replaces
            # the pool; whether the database is down is for the next connect to find out.
            log.warning("database connection lost: %s", reason)
        else:
            return None  # an error in a statement, not a lost database
        return DatabaseUnavailable(reason, retry_after=breaker.retry_after(), orig=context.original_exception)


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
