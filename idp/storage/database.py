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
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from idp import metrics
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


class DatabaseTooSlow(DatabaseUnavailable):
    """The database is reachable but did not answer in time: a statement ran past the statement
    timeout, or no pooled connection came free within the pool timeout. Answered with 503 and
    `Retry-After` like an outage, but the breaker stays closed (the next request may well be quick)
    and the connection is kept."""

    def __init__(self, reason: str, orig: BaseException | None = None) -> None:
        super().__init__(reason, retry_after=1, orig=orig)
        self.connection_invalidated = False


class _Pool(QueuePool):
    """A QueuePool whose wait for a free connection, once past `pool_timeout`, ends in 503
    (`DatabaseTooSlow`) rather than SQLAlchemy's TimeoutError, which the app would answer with 500."""

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            return super()._do_get()
        except PoolTimeoutError as exc:
            metrics.backend_error("database", "pool")
            log.warning("no database connection came free within %.1f s (pool of %d + %d overflow)",
                        self._timeout, self.size(), self._max_overflow)
            raise DatabaseTooSlow("no database connection came free in time", orig=exc) from None


# SQLSTATE 57014 (query_canceled): the server's statement_timeout cancelled the statement.
_QUERY_CANCELED = "57014"

_breakers: WeakKeyDictionary[Engine, CircuitBreaker] = WeakKeyDictionary()


def breaker_of(engine: Engine) -> CircuitBreaker | None:
    """The engine's circuit breaker (a server database has one; SQLite, a local file, has none)."""
    return _breakers.get(engine)


def make_engine(
    url: str, *, timeout: float = 3.0, breaker_interval: float = 5.0, pool_size: int = 10,
    max_overflow: int = 20, pool_timeout: float = 5.0, statement_timeout: float = 0,
    transaction_pooling: bool = False,
) -> Engine:
    """An engine for `url`. For a server database: `timeout` bounds connecting, `pool_size` +
    `max_overflow` bound the connections this process opens, `pool_timeout` how long a caller waits
    for one of them, `statement_timeout` (seconds, 0: the server's own setting) how long a statement
    may run; either wait, when exceeded, is a 503. `transaction_pooling`: the URL names a pooler in
    transaction mode (PgBouncer `pool_mode = transaction`), see `_postgres_connect_args`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection, handed to one thread at a time: SQLite allows a single writer, and
        # queueing in the pool is far cheaper than threads sleeping in SQLite's busy handler.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=_Pool, pool_size=1, max_overflow=0, pool_timeout=60,
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
        connect_args = _postgres_connect_args(timeout, statement_timeout, transaction_pooling)
    engine = create_engine(url, poolclass=_Pool, pool_size=pool_size, max_overflow=max_overflow,
                           pool_timeout=pool_timeout, pool_recycle=1800, connect_args=connect_args)
    if transaction_pooling and statement_timeout:
        _check_role_statement_timeout(engine, statement_timeout)
    _guard_event_loop(engine)
    _ping_idle_connections(engine)
    _add_breaker(engine, CircuitBreaker("database", breaker_interval, backend="database"))
    return engine


def _postgres_connect_args(timeout: float, statement_timeout: float, transaction_pooling: bool) -> dict[str, object]:
    """libpq/psycopg connection arguments.

    Connected to PostgreSQL itself, the statement timeout is a startup option (`-c
    statement_timeout=...`): part of the connection, no round trip, no state to keep.

    Behind a pooler in transaction mode a client connection is not a server connection: PgBouncer
    refuses startup options ("unsupported startup parameter: options") and hands each transaction to
    any server connection, so a `SET` on connect would change a connection other clients then use,
    and a `SET LOCAL` in every transaction would cost a round trip each. There the timeout belongs
    to the role (`ALTER ROLE ... SET statement_timeout`), which every server connection the pooler
    opens starts with; `_check_role_statement_timeout` warns when it is missing. And statements are
    never prepared on the server (psycopg would after five executions of one query): a prepared
    statement lives in one server connection, and the next transaction may run on another.
    """
    args: dict[str, object] = {"connect_timeout": max(2, math.ceil(timeout))}  # libpq: whole seconds, at least 2
    if transaction_pooling:
        args["prepare_threshold"] = None
    elif statement_timeout:
        args["options"] = f"-c statement_timeout={_milliseconds(statement_timeout)}"
    return args


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _check_role_statement_timeout(engine: Engine, statement_timeout: float) -> None:
    """Behind a transaction pooler, check once that the server's statement timeout (the role's or
    database's setting) is on and no longer than ours, and say how to set it if not."""
    wanted = _milliseconds(statement_timeout)

    @event.listens_for(engine, "connect", once=True)
    def _check(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT current_user, setting::int FROM pg_settings WHERE name = 'statement_timeout'")
            role, actual = cursor.fetchone()
        dbapi_connection.rollback()
        if actual == 0 or actual > wanted:
            log.warning("the database's statement_timeout is %s ms, not the %d ms of IDP_DATABASE_STATEMENT_TIMEOUT: "
                        "behind a transaction pooler it cannot be sent per connection; set it with "
                        "ALTER ROLE \"%s\" SET statement_timeout = %d", actual, wanted, role, wanted)


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
        return unavailable(engine, context.original_exception, connected=context.connection is not None,
                           lost=context.is_disconnect)


def unavailable(engine: Engine, exc: BaseException, *, connected: bool, lost: bool) -> DatabaseUnavailable | None:
    """What a driver error means for a server database's callers: a statement cancelled by the
    statement timeout is `DatabaseTooSlow`; a failed connect opens the breaker and, like a
    connection lost mid-request, is `DatabaseUnavailable` (both 503); None for an error in a
    statement. The one place that decides it: SQLAlchemy's error hook and `idp.storage.direct` ask."""
    reason = str(exc).strip()
    if getattr(exc, "sqlstate", None) == _QUERY_CANCELED:
        metrics.backend_error("database", "timeout")
        log.warning("database statement cancelled: %s", reason)
        return DatabaseTooSlow(reason, orig=exc)
    breaker = breaker_of(engine)
    if not connected:
        if breaker is not None:
            breaker.failed(reason)  # could not connect: the database is down
    elif lost:
        # One connection died (a restart, a firewall, an administrator): it is replaced; whether
        # the database is down is for the next connect to find out.
        metrics.backend_error("database", "lost")
        log.warning("database connection lost: %s", reason)
    else:
        return None  # an error in a statement, not a lost database
    return DatabaseUnavailable(reason, retry_after=breaker.retry_after() if breaker else 1, orig=exc)


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
