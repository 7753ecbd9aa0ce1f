"""The `UsedAssertions` contract, run against `SqlUsedAssertions` on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from idp.oauth.one_time_ids import SqlUsedAssertions, UsedAssertions
from tests.clock import Clock

pytestmark = pytest.mark.pgbouncer  # also behind PgBouncer in transaction mode

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def used(engine: Engine, clock: Clock) -> UsedAssertions:
    return SqlUsedAssertions(engine, clock)


def test_an_id_is_claimed_once_per_client(used: UsedAssertions) -> None:
    until = (T0 + timedelta(minutes=5)).timestamp()
    assert used.claim("shop", "jti-1", until) is True
    assert used.claim("shop", "jti-1", until) is False
    assert used.claim("bank", "jti-1", until) is True  # another client's assertion
    assert used.claim("shop", "jti-2", until) is True


def test_client_and_id_cannot_be_shifted_into_each_other(used: UsedAssertions) -> None:
    until = (T0 + timedelta(minutes=5)).timestamp()
    assert used.claim("a", "bc", until) is True
    assert used.claim("ab", "c", until) is True


def test_any_id_fits(used: UsedAssertions) -> None:
    until = (T0 + timedelta(minutes=5)).timestamp()
    assert used.claim("shop", "x" * 5000, until) is True
    assert used.claim("shop", "x" * 5000, until) is False


def test_of_concurrent_claims_exactly_one_wins(used: UsedAssertions) -> None:
    until = (T0 + timedelta(minutes=5)).timestamp()
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def claim() -> None:
        barrier.wait(timeout=5)
        results.append(used.claim("shop", "raced", until))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False, False, False, True]


def test_prune_forgets_only_expired_ids(used: UsedAssertions, clock: Clock) -> None:
    used.claim("shop", "short", (T0 + timedelta(minutes=1)).timestamp())
    used.claim("shop", "long", (T0 + timedelta(minutes=10)).timestamp())
    assert used.prune() == 0
    clock.advance(120)
    assert used.prune() == 1
    assert used.claim("shop", "long", (T0 + timedelta(minutes=10)).timestamp()) is False
    assert used.claim("shop", "short", (T0 + timedelta(minutes=10)).timestamp()) is True  # forgotten
