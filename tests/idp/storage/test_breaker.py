"""Circuit breakers (`idp.storage.breaker`): a backend found down costs one timeout, then requests
fail at once with a Retry-After until one probe finds it back. First the transitions on a clock set
by hand, then the breakers of a real PostgreSQL (behind a proxy that is cut) and a real Redis
(killed and restarted)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from idp.storage.breaker import CircuitBreaker
from idp.storage.database import DatabaseUnavailable, breaker_of, make_engine
from idp.storage.redis import RedisStore
from idp.storage.store import StoreUnavailable
from tests.backends import postgres_database
from tests.faults import postgres_behind_proxy, redis_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_closed_open_half_open_and_closed_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker("database", interval=5, clock=clock)
    assert breaker.state == "closed" and breaker.allow() and breaker.retry_after() == 1

    breaker.failed("connection refused")
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.retry_after() == 5
    clock.now += 3.2
    assert not breaker.allow() and breaker.retry_after() == 2  # whole seconds, rounded up

    clock.now += 1.8
    assert breaker.state == "half-open"
    assert breaker.allow()  # this call is the probe...
    assert not breaker.allow() and breaker.state == "open"  # ...and everyone else waits for it
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow()


def test_a_failed_probe_opens_it_for_another_interval() -> None:
    clock = Clock()
    breaker = CircuitBreaker("store", interval=5, clock=clock)
    breaker.failed("timeout")
    clock.now += 5
    assert breaker.allow()
    clock.now += 0.5
    breaker.failed("timeout again")
    assert breaker.state == "open" and breaker.retry_after() == 5
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_one_error_line_when_it_opens_and_one_when_it_closes(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    breaker = CircuitBreaker("ephemeral store (Redis)", interval=5, clock=clock)
    with caplog.at_level(logging.WARNING, logger="idp.backends"):
        breaker.failed("Connection refused")
        breaker.failed("Connection refused")
        clock.now += 5
        breaker.allow()
        breaker.succeeded()
        breaker.succeeded()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "ephemeral store (Redis) unavailable, answering 503 for 5 s before trying again: Connection refused"),
        ("WARNING", "ephemeral store (Redis) still unavailable: Connection refused"),
        ("WARNING", "ephemeral store (Redis) is reachable again"),
    ]
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.postgres
def test_a_cut_database_fails_at_once_until_a_probe_finds_it_back() -> None:
    with postgres_database() as url, postgres_behind_proxy(url) as (proxied, proxy):
        engine = make_engine(proxied, timeout=2, breaker_interval=0.5)
        breaker = breaker_of(engine)
        assert breaker is not None and breaker.state == "closed"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()  # the next query must connect
        proxy.cut()
        with pytest.raises(DatabaseUnavailable) as first:
            engine.connect().close()
        assert breaker.state == "open" and first.value.retry_after == 1
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="the database is down"):
            engine.connect().close()
        assert time.monotonic() - started < 0.1  # no connection attempt while it is open

        proxy.restore()
        time.sleep(0.6)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        assert breaker.state == "closed"
        engine.dispose()


def test_an_embedded_database_has_no_breaker(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'idp.db'}")
    assert breaker_of(engine) is None
    engine.dispose()


@pytest.mark.redis
def test_a_killed_redis_fails_at_once_until_a_probe_finds_it_back(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        store = RedisStore(server.url, prefix="breaker:", timeout=0.3, breaker_interval=0.5)
        store.set("k", b"v", 60)
        server.kill()
        with pytest.raises(StoreUnavailable):
            store.get("k")
        assert store.breaker.state == "open"
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="Redis is down"):
            store.get("k")
        assert time.monotonic() - started < 0.1

        server.start()  # back, and empty
        time.sleep(0.6)
        assert store.get("k") is None
        store.set("k", b"again", 60)
        assert store.get("k") == b"again" and store.breaker.state == "closed"
        store.close()
