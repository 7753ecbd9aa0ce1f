"""The `AccessTokenRevocations` contract, run against `SqlAccessTokenRevocations` on SQLite and
PostgreSQL, each with the in-process store and Redis holding the marks."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine

from idp.oauth.revocations import AccessTokenRevocations, SqlAccessTokenRevocations
from idp.storage.store import MemoryStore, Store, StoreUnavailable

pytestmark = pytest.mark.pgbouncer  # also behind PgBouncer in transaction mode

TOKEN_HORIZON = 600.0
SESSION_HORIZON = 1200.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class DownStore(MemoryStore):
    """A store that cannot be reached: every call fails as a Redis that is down does."""

    def __getattribute__(self, name: str) -> object:
        if name in {"get", "set", "add", "replace", "take", "delete", "incr", "ttl", "ttl_many"}:
            def down(*_: object, **__: object) -> None:
                raise StoreUnavailable("down")
            return down
        return super().__getattribute__(name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def revocations_on(engine: Engine, store: Store, clock: Clock) -> AccessTokenRevocations:
    return SqlAccessTokenRevocations(engine, store, token_horizon=TOKEN_HORIZON, session_horizon=SESSION_HORIZON,
                                     clock=clock)


@pytest.fixture
def revocations(engine: Engine, store: Store, clock: Clock) -> AccessTokenRevocations:
    return revocations_on(engine, store, clock)


def test_nothing_is_revoked_at_first(revocations: AccessTokenRevocations) -> None:
    assert not revocations.is_revoked("jti-1")
    assert not revocations.is_revoked("jti-1", "sid-1")
    assert not revocations.session_revoked("sid-1")


def test_a_revoked_token_is_revoked_and_no_other(revocations: AccessTokenRevocations) -> None:
    revocations.revoke(["jti-1", "jti-2", "jti-1", ""])
    assert revocations.is_revoked("jti-1") and revocations.is_revoked("jti-2", "sid-1")
    assert not revocations.is_revoked("jti-3")
    assert not revocations.session_revoked("sid-1")


def test_an_ended_session_revokes_every_token_carrying_its_sid(revocations: AccessTokenRevocations) -> None:
    revocations.revoke(sid="sid-1")
    assert revocations.session_revoked("sid-1")
    assert revocations.is_revoked("any-jti", "sid-1")
    assert not revocations.is_revoked("any-jti")
    assert not revocations.is_revoked("any-jti", "sid-2") and not revocations.session_revoked("sid-2")


def test_revoking_nothing_is_allowed(revocations: AccessTokenRevocations) -> None:
    revocations.revoke([])
    revocations.revoke()
    assert revocations.prune() == 0


def test_revoking_twice_is_harmless(revocations: AccessTokenRevocations) -> None:
    revocations.revoke(["jti-1"], sid="sid-1")
    revocations.revoke(["jti-1"], sid="sid-1")
    assert revocations.is_revoked("jti-1") and revocations.session_revoked("sid-1")


def test_revocations_are_durable_without_the_store(engine: Engine, store: Store, clock: Clock) -> None:
    revocations_on(engine, store, clock).revoke(["jti-1"], sid="sid-1")
    fresh = revocations_on(engine, MemoryStore(), clock)  # another instance, whose store lost every mark
    assert fresh.is_revoked("jti-1") and fresh.session_revoked("sid-1")
    assert revocations_on(engine, DownStore(), clock).is_revoked("jti-1")


def test_revoking_while_the_store_is_down_still_revokes(engine: Engine, clock: Clock) -> None:
    revocations = revocations_on(engine, DownStore(), clock)
    revocations.revoke(["jti-1"])
    assert revocations.is_revoked("jti-1")


def test_prune_forgets_only_what_has_expired(revocations: AccessTokenRevocations, clock: Clock) -> None:
    revocations.revoke(["jti-1"], sid="sid-1")
    clock.now += TOKEN_HORIZON + 1
    assert revocations.prune() == 1  # the token's; the session's lives longer
    clock.now += SESSION_HORIZON
    assert revocations.prune() == 1
    assert revocations.prune() == 0
